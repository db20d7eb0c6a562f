package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// smtpSink is a minimal SMTP server on a loopback port that accepts every
// mail and keeps none, so that the reset phase's server delivers its mail
// (as it would in production) instead of retrying against a closed port.
type smtpSink struct {
	ln        net.Listener
	delivered atomic.Int64
	wg        sync.WaitGroup
}

// startSMTPSink listens on a free 127.0.0.1 port.
func startSMTPSink() (*smtpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &smtpSink{ln: ln}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(conn) })
		}
	})
	return s, nil
}

// addr is the sink's host:port.
func (s *smtpSink) addr() string { return s.ln.Addr().String() }

// close stops accepting and waits for the sessions under way.
func (s *smtpSink) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// serve answers one SMTP session: 250 to everything, 354 to DATA and then
// 250 once the message ends, 221 to QUIT.
func (s *smtpSink) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	reply := func(line string) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !reply("220 authbench sink ESMTP") {
		return
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexByte(verb, ' '); i > 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			if !reply("250-authbench\r\n250-8BITMIME\r\n250 SMTPUTF8") {
				return
			}
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			s.delivered.Add(1)
			if !reply("250 kept nowhere") {
				return
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			if !reply("250 ok") {
				return
			}
		}
	}
}
