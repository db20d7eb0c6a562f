package main

import (
	"fmt"
	"net/smtp"
	"testing"
	"time"
)

func TestKSTest(t *testing.T) {
	t.Parallel()
	var a, b, far []time.Duration
	for i := range 500 {
		a = append(a, time.Duration(i)*time.Microsecond)
		b = append(b, time.Duration(499-i)*time.Microsecond)
		far = append(far, time.Duration(1000+i)*time.Microsecond)
	}
	if d, p := ksTest(a, b); d != 0 || p < 0.99 {
		t.Errorf("one distribution: D = %v, p = %v; want 0 and about 1", d, p)
	}
	if d, p := ksTest(a, far); d != 1 || p > 1e-9 {
		t.Errorf("disjoint distributions: D = %v, p = %v; want 1 and about 0", d, p)
	}
	// Half shifted: D = 0.5.
	if d, _ := ksTest(a, append(a[250:], far[:250]...)); d != 0.5 {
		t.Errorf("half shifted: D = %v, want 0.5", d)
	}
	if got := quantile(a, 0.5); got != 249*time.Microsecond {
		t.Errorf("median = %s", got)
	}
}

func TestSMTPSinkAcceptsMail(t *testing.T) {
	t.Parallel()
	sink, err := startSMTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.close()
	for i := range 3 {
		msg := fmt.Sprintf("Subject: %d\r\n\r\nline\r\n.leading dot\r\n", i)
		if err := smtp.SendMail(sink.addr(), nil, "a@bench.example", []string{"b@bench.example"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if n := sink.delivered.Load(); n != 3 {
		t.Errorf("the sink took %d mails, want 3", n)
	}
}
