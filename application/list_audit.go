package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// ListAudit pages through the audit trail, for admins.
type ListAudit struct {
	Audit ports.AuditLog
}

// Do returns a page of events and the cursor of the next page (zero when
// this page is the last). Limits follow ListUsers.
func (uc *ListAudit) Do(ctx context.Context, q ports.AuditQuery) ([]domain.AuthEvent, int64, error) {
	var verr domain.ValidationError
	want := pageLimit(q.Limit, q.After, &verr)
	if err := verr.Err(); err != nil {
		return nil, 0, err
	}
	// One extra row tells whether another page follows.
	q.Limit = want + 1
	es, err := uc.Audit.List(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	es, next := cutPage(es, want, func(e domain.AuthEvent) int64 { return e.ID })
	return es, next, nil
}
