package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// WithMail returns e with the renderer of the mails the use cases queue.
// An Env without one (email is off) queues no mail.
func (e Env) WithMail(r ports.MailRenderer) Env {
	e.mail = r
	return e
}

// mailSender is an aggregate a change sends mail through (domain.User,
// domain.Family): its repository queues the mail with the change.
type mailSender interface {
	Send(m domain.OutgoingMail)
}

// queueMail renders template t with d and attaches the mail, addressed to
// to and due at d.At, to the change being made to s. Without a renderer it
// attaches nothing.
func (e Env) queueMail(s mailSender, to domain.MailRecipient, t domain.MailTemplate, d ports.MailData) error {
	if e.mail == nil {
		return nil
	}
	c, err := e.mail.Render(t, d)
	if err != nil {
		return fmt.Errorf("render mail %s: %w", t, err)
	}
	s.Send(domain.OutgoingMail{To: to, Template: t, Content: c, At: d.At})
	return nil
}

// notify is queueMail for a notification: a notice that cannot be rendered
// must not stop the change it reports (the templates were all rendered
// once at start-up, so this is a bug), so the failure is logged instead.
func (e Env) notify(ctx context.Context, s mailSender, to domain.MailRecipient, t domain.MailTemplate, d ports.MailData) {
	if err := e.queueMail(s, to, t, d); err != nil {
		e.log.ErrorContext(ctx, "notification not queued", "template", string(t), "err", err)
	}
}
