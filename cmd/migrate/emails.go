package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
)

// errEmailsNeedAttention makes check-emails and normalize-emails exit 1
// while some stored email is not in the current normal form.
var errEmailsNeedAttention = errors.New("some stored emails are not in the current normal form (listed above)")

// checkEmails lists the users whose stored email the current rules would
// normalise differently or refuse, and what normalize-emails would do.
func checkEmails(ctx context.Context, db *bun.DB, w io.Writer) error {
	return legacyEmails(ctx, db, w, false)
}

// normalizeEmails rewrites the stored emails whose normal form is free and
// lists the ones left for an operator.
func normalizeEmails(ctx context.Context, db *bun.DB, w io.Writer) error {
	return legacyEmails(ctx, db, w, true)
}

func legacyEmails(ctx context.Context, db *bun.DB, w io.Writer, apply bool) error {
	found, err := postgres.NormalizeEmails(ctx, db, apply)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Fprintln(w, "every stored email is in the current normal form")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "user\tstored\tnormal form\toutcome")
	left := 0
	for _, l := range found {
		outcome := "would be rewritten"
		switch {
		case l.Refused != "":
			outcome, left = "refused by the current rules, left as is: "+l.Refused, left+1
		case l.Conflict != 0:
			outcome, left = fmt.Sprintf("left as is: user %d already has the normal form", l.Conflict), left+1
		case l.Rewritten:
			outcome = "rewritten"
		case apply:
			outcome, left = "left as is: changed meanwhile", left+1
		}
		fmt.Fprintf(tw, "%d\t%+q\t%+q\t%s\n", l.UserID, l.Stored, l.Normal, outcome)
	}
	_ = tw.Flush()
	if !apply || left > 0 {
		return errEmailsNeedAttention
	}
	return nil
}
