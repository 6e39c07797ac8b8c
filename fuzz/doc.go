// Package fuzz holds the native Go fuzz targets of the wire codec (packages
// packet and property), among others. It has no API: everything is in its
// tests.
//
// The targets:
//
//   - FuzzDecodeV5 and FuzzDecodeV311 decode one packet of MQTT 5.0 or
//     3.1.1 (a CONNECT of any version) with two-byte packet identifiers;
//   - FuzzDecodeID32 decodes MQTT 5.0 with four-byte packet identifiers;
//   - FuzzFrame splits a stream into packets with a random size limit and
//     decodes them with a Decoder of either version, or one that learns the
//     version from CONNECT;
//   - FuzzMatch checks package topic: a Tree holding any valid filter
//     matches exactly the names topic.Match matches, and a filter the codec
//     accepts splits into a ShareName and a valid filter;
//   - FuzzSCRAMClient, FuzzSCRAMServer and FuzzSCRAMCredentials feed any
//     message to either side of a SCRAM-SHA-256 exchange (package
//     auth/scram), and any line to its credentials parser: no panic, and
//     every error is one of the package's;
//   - FuzzTrace parses any bytes as a trace (package trace): no panic, a
//     clear error, one encoding per trace, and a replay of what parses
//     never makes the Connection panic.
//
// The decoding targets each check that the codec never panics, that every
// error maps to a reason code (packet.ReasonOf), and that whatever decodes
// encodes without error to Size bytes and is stable: decoding that encoding
// gives the same packet, and encoding it again the same bytes.
//
// The seed corpus is the encoding of a representative packet of every kind
// in both versions, a few malformed packets, and the regression inputs
// under testdata/fuzz/<Target>/. A plain go test runs every seed once:
//
//	go test ./fuzz
//
// To fuzz one target (one at a time; -fuzz takes a regular expression that
// must match a single target):
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzDecodeV5$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzDecodeV311$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzDecodeID32$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzFrame$' -fuzztime 2m
//	go test ./fuzz -run '^$' -fuzz '^FuzzSCRAMServer$' -fuzztime 2m
//
// A failing input is written to testdata/fuzz/<Target>/; once the bug is
// fixed, keep the file there as a regression seed.
package fuzz
