package broker

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mqttcore/mqtt/topic"
)

// ACL is an access control list in the format of mosquitto's acl_file:
// which topics each client may publish on (write) and receive messages of
// (read). One rule a line, blank lines and lines starting with # skipped:
//
//	topic [read|write|readwrite|deny] FILTER
//	user NAME
//	pattern [read|write|readwrite|deny] FILTER
//
// "topic" lines before any "user" line apply to clients without a user
// name; those after "user NAME" to clients that authenticated as NAME
// (the CONNECT's User Name, or the SCRAM-SHA-256 user), up to the next
// "user" line. "pattern" lines apply to every client, wherever they are,
// with %c replaced by the client's identifier and %u by its user name
// where either makes a whole level of FILTER ("devices/%c/#"); a pattern
// with %u does not apply to a client without a user name. The access
// defaults to readwrite; deny refuses what a broader rule would grant.
// FILTER may hold wildcards, and the rest of the line is the filter,
// spaces included.
//
// A client's rules are its user's (or the anonymous ones), then the
// patterns; within each set deny rules come first. The first rule whose
// filter matches the topic decides: deny refuses, a rule with the access
// wanted grants, one without it is passed over. No rule: refused. A
// client whose identifier or user name holds +, # or /, while patterns
// exist, is refused everything (mosquitto refuses + and #; a / would let
// the value span levels).
//
// The broker checks a PUBLISH (and a will) against write, each message it
// is about to send a client (routed, retained or queued while the client
// was away) against read, and each filter of a SUBSCRIBE: granted when a
// rule with read access matches every topic the filter can match, and no
// deny rule matches them all (a deny rule that matches some of them
// refuses those messages one by one).
type ACL struct {
	anonymous []aclRule
	users     map[string][]aclRule
	patterns  []aclRule
}

// access is what a rule grants: read, write, both, or nothing (deny).
type access uint8

const (
	accessRead access = 1 << iota
	accessWrite
	accessDeny access = 0
)

type aclRule struct {
	access access
	filter string
}

// LoadACL reads an ACL file; an error names the file, and the line for
// one in the file (*FileError).
func LoadACL(file string) (*ACL, error) { return load(file, ParseACL) }

// ParseACL reads the lines of an ACL file from r; file names it in
// errors.
func ParseACL(r io.Reader, file string) (*ACL, error) {
	a := &ACL{users: make(map[string][]aclRule)}
	user, inUser := "", false
	err := ScanLines(r, file, func(n int, line string) error {
		kind, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch kind {
		case "user":
			if rest == "" {
				return errors.New("user without a name")
			}
			user, inUser = rest, true
			if _, ok := a.users[user]; !ok {
				a.users[user] = nil
			}
			return nil
		case "topic", "pattern":
		default:
			return fmt.Errorf("unknown rule %q: want topic, pattern or user", kind)
		}
		rule, err := parseRule(rest)
		if err != nil {
			return err
		}
		switch {
		case kind == "pattern":
			a.patterns = addRule(a.patterns, rule)
		case inUser:
			a.users[user] = addRule(a.users[user], rule)
		default:
			a.anonymous = addRule(a.anonymous, rule)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// parseRule reads "[ACCESS] FILTER".
func parseRule(s string) (aclRule, error) {
	if s == "" {
		return aclRule{}, errors.New("no topic filter")
	}
	r := aclRule{access: accessRead | accessWrite, filter: s}
	if word, filter, ok := strings.Cut(s, " "); ok {
		switch word {
		case "read":
			r.access = accessRead
		case "write":
			r.access = accessWrite
		case "readwrite":
		case "deny":
			r.access = accessDeny
		default:
			return aclRule{}, fmt.Errorf("access %q: want read, write, readwrite or deny", word)
		}
		r.filter = strings.TrimSpace(filter)
	}
	if err := topic.ValidFilter(r.filter); err != nil {
		return aclRule{}, fmt.Errorf("topic filter %q: %w", r.filter, err)
	}
	return r, nil
}

// addRule adds r to rules, deny rules before the others.
func addRule(rules []aclRule, r aclRule) []aclRule {
	if r.access != accessDeny {
		return append(rules, r)
	}
	i := 0
	for i < len(rules) && rules[i].access == accessDeny {
		i++
	}
	rules = append(rules, aclRule{})
	copy(rules[i+1:], rules[i:])
	rules[i] = r
	return rules
}

// Permissions are one client's rules, from ACL.For; a nil *Permissions
// allows everything (no ACL).
type Permissions struct {
	rules []aclRule // in the order they are tried
}

// For returns the rules of a client: with the user name user (hasUser
// false for a client without one) and the client identifier clientID.
func (a *ACL) For(user string, hasUser bool, clientID string) *Permissions {
	p := &Permissions{}
	if hasUser {
		p.rules = append(p.rules, a.users[user]...)
	} else {
		p.rules = append(p.rules, a.anonymous...)
	}
	if len(a.patterns) == 0 {
		return p
	}
	if strings.ContainsAny(clientID, "+#/") || hasUser && strings.ContainsAny(user, "+#/") {
		return &Permissions{} // nothing matches: everything refused
	}
	for _, r := range a.patterns {
		levels := strings.Split(r.filter, "/")
		skip := false
		for i, l := range levels {
			switch l {
			case "%c":
				levels[i] = clientID
			case "%u":
				levels[i] = user
				skip = skip || !hasUser
			}
		}
		if !skip {
			p.rules = append(p.rules, aclRule{access: r.access, filter: strings.Join(levels, "/")})
		}
	}
	return p
}

// MayRead reports whether the client may receive a message on topic name.
func (p *Permissions) MayRead(name string) bool { return p.allows(name, accessRead) }

// MayWrite reports whether the client may publish on topic name.
func (p *Permissions) MayWrite(name string) bool { return p.allows(name, accessWrite) }

func (p *Permissions) allows(name string, want access) bool {
	if p == nil {
		return true
	}
	for _, r := range p.rules {
		if !topic.Match(r.filter, name) {
			continue
		}
		if r.access == accessDeny {
			return false
		}
		if r.access&want != 0 {
			return true
		}
	}
	return false
}

// MaySubscribe reports whether the client may subscribe to filter (a
// shared subscription's filter without its $share/NAME/ prefix): the
// first rule that matches every topic filter can match decides.
func (p *Permissions) MaySubscribe(filter string) bool {
	if p == nil {
		return true
	}
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, filter, _ = strings.Cut(rest, "/")
	}
	for _, r := range p.rules {
		if !covers(r.filter, filter) {
			continue
		}
		if r.access == accessDeny {
			return false
		}
		if r.access&accessRead != 0 {
			return true
		}
	}
	return false
}

// covers reports whether the topic filter outer matches every topic name
// that inner matches.
func covers(outer, inner string) bool {
	o, in := strings.Split(outer, "/"), strings.Split(inner, "/")
	for i, ol := range o {
		wild := ol == "+" || ol == "#"
		if i == 0 && wild && len(in[0]) > 0 && in[0][0] == '$' {
			return false // a wildcard first matches no $ topic (MQTT-4.7.2-1)
		}
		if ol == "#" {
			return true
		}
		if i == len(in) {
			return false // inner has fewer levels
		}
		switch il := in[i]; {
		case il == "#":
			// inner matches this level and any below, or none (the
			// parent): only "#" does too, and "+/#" at the first level,
			// where there is no parent.
			return i == 0 && ol == "+" && len(o) == 2 && o[1] == "#"
		case ol == "+":
			// any one level: covered
		case il != ol:
			return false // a literal differs, or inner's + is wider
		}
	}
	return len(in) == len(o)
}
