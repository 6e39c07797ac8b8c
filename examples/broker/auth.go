package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/mqttcore/mqtt/examples/internal/broker"
)

// authFlags are the flags of authentication and authorisation.
type authFlags struct {
	passwordFile string
	aclFile      string
	anonymous    anonymousFlag
	delay        time.Duration
}

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.passwordFile, "password-file", "",
		"password `file` (bcrypt hashes and SCRAM-SHA-256 credentials; broker passwd adds users): clients must authenticate")
	fs.StringVar(&a.aclFile, "acl-file", "", "ACL `file` (mosquitto's acl_file format): what each client may publish and receive")
	fs.Var(&a.anonymous, "allow-anonymous",
		"let clients without a user name connect (default: true without -password-file, false with it)")
	fs.DurationVar(&a.delay, "auth-delay", time.Second,
		"least delay before refusing bad credentials, plus up to as much at random (0: none)")
}

// apply loads the files into cfg.
func (a *authFlags) apply(cfg *broker.Config) error {
	if a.passwordFile != "" {
		p, err := broker.LoadPasswords(a.passwordFile)
		if err != nil {
			return fmt.Errorf("-password-file: %w", err)
		}
		cfg.Passwords = p
	}
	if a.aclFile != "" {
		acl, err := broker.LoadACL(a.aclFile)
		if err != nil {
			return fmt.Errorf("-acl-file: %w", err)
		}
		cfg.ACL = acl
	}
	cfg.AllowAnonymous = a.anonymous.allowed(a.passwordFile != "")
	cfg.AuthDelay = a.delay
	if a.delay <= 0 {
		cfg.AuthDelay = -1 // none; 0 would be the broker's default
	}
	return nil
}

// reload reads -password-file and -acl-file again and has b apply them
// (SIGHUP); if either cannot be read, the broker keeps what it had and
// the error is logged.
func (a *authFlags) reload(b *broker.Broker, log *slog.Logger) {
	if a.passwordFile == "" && a.aclFile == "" {
		log.Info("SIGHUP: no -password-file or -acl-file to reload")
		return
	}
	var cfg broker.Config
	err := a.apply(&cfg)
	if err == nil {
		err = b.Reload(cfg.Passwords, cfg.ACL)
	}
	if err != nil {
		log.Error("SIGHUP: not reloaded, the broker keeps its password file and ACL", "err", err)
		return
	}
	users := 0
	if cfg.Passwords != nil {
		users = cfg.Passwords.Len()
	}
	log.Info("SIGHUP: reloaded", "password_file", a.passwordFile, "users", users, "acl_file", a.aclFile)
}

// anonymousFlag is -allow-anonymous: a boolean whose default depends on
// -password-file.
type anonymousFlag struct {
	set, value bool
}

func (f *anonymousFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatBool(f.value)
}

func (f *anonymousFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	f.set, f.value = true, v
	return nil
}

func (f *anonymousFlag) IsBoolFlag() bool { return true }

// allowed returns the flag's value, or its default.
func (f *anonymousFlag) allowed(withPasswords bool) bool {
	if f.set {
		return f.value
	}
	return !withPasswords
}
