package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// ListAudit pages through the audit trail, for admins.
type ListAudit struct {
	audit ports.AuditLog
}

// NewListAudit returns the ListAudit use case.
func NewListAudit(audit ports.AuditLog) *ListAudit { return &ListAudit{audit: audit} }

// Do returns a page of events, only those of user when it is not zero, and
// the cursor of the next page (zero when this page is the last).
func (uc *ListAudit) Do(ctx context.Context, page Page, user domain.UserID) ([]domain.AuthEvent, int64, error) {
	// One extra row tells whether another page follows.
	es, err := uc.audit.List(ctx, ports.AuditQuery{UserID: user, After: page.After(), Limit: page.Limit() + 1})
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	es, next := cutPage(es, page, func(e domain.AuthEvent) int64 { return e.ID })
	return es, next, nil
}
