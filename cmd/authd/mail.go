package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"
	"go.uber.org/fx"

	"authd/adapters/httpapi"
	"authd/adapters/mailtemplate"
	"authd/adapters/postgres"
	"authd/adapters/smtp"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

// mailModule provides the mail templates to the use cases and runs the
// outbox's dispatcher.
var mailModule = fx.Options(
	fx.Provide(newMailTemplates),
	fx.Invoke(startMailDispatcher),
)

// mailTemplates holds the renderer the use cases queue mail with; nil when
// email is off, so that they queue none.
type mailTemplates struct {
	renderer ports.MailRenderer
}

// newMailTemplates loads the mail templates, from AUTHD_MAIL_TEMPLATES_DIR
// or the embedded defaults, rendering each once: a broken template stops
// start-up.
func newMailTemplates(cfg Config) (mailTemplates, error) {
	if !cfg.Mail.On {
		return mailTemplates{}, nil
	}
	if cfg.Mail.TemplatesDir == "" {
		r, err := mailtemplate.Default()
		return mailTemplates{renderer: r}, err
	}
	r, err := mailtemplate.FromDir(cfg.Mail.TemplatesDir)
	if err != nil {
		return mailTemplates{}, fmt.Errorf("AUTHD_MAIL_TEMPLATES_DIR: %w", err)
	}
	return mailTemplates{renderer: r}, nil
}

// withMail adds the mail parts of cfg to the use cases' dependencies.
func withMail(d application.Deps, cfg Config, t mailTemplates, issuer string) application.Deps {
	d.Mail = t.renderer
	d.Links = cfg.Mail.links(issuer)
	d.RequireVerifiedEmail = cfg.Mail.RequireVerified
	return d
}

// startMailDispatcher runs the outbox's dispatcher while the server runs,
// when email is on. Stopping lets a delivery under way finish (or time
// out) and records it.
func startMailDispatcher(lc fx.Lifecycle, cfg Config, db *bun.DB, clock ports.Clock, log *slog.Logger, metrics *httpapi.Metrics) error {
	if !cfg.Mail.On {
		log.Warn("email is off: no mail is queued or sent, and the email routes answer 404",
			"why", mailOffReason(cfg))
		return nil
	}
	server, err := smtp.ParseURL(cfg.Mail.SMTPURL)
	if err != nil {
		return fmt.Errorf("AUTHD_SMTP_URL: %w", err)
	}
	sender, err := smtp.New(smtp.Config{Server: server, From: cfg.Mail.From, Timeout: cfg.Mail.SMTPTimeout})
	if err != nil {
		return fmt.Errorf("AUTHD_MAIL_FROM: %w", err)
	}
	outbox := postgres.NewMailOutbox(db)
	stats := newMailMetrics(metrics.Registry(), outbox)
	d := application.NewMailDispatcher(outbox, sender, stats, clock, log, application.DispatchOptions{
		SendTimeout: cfg.Mail.SMTPTimeout,
		Poll:        cfg.Mail.PollInterval,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			log.Info("mail dispatcher started", "smtp", server.Address(), "tls_required", !server.Loopback(), "from", cfg.Mail.From)
			go func() {
				defer close(done)
				d.Run(ctx)
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				return fmt.Errorf("mail dispatcher: %w", stop.Err())
			}
		},
	})
	return nil
}

func mailOffReason(cfg Config) string {
	if cfg.Mail.SMTPURL == "" && cfg.Env == "dev" {
		return "AUTHD_SMTP_URL is not set (make run starts Mailpit and sets it)"
	}
	return "AUTHD_EMAIL=off"
}

// mailMetrics are the dispatcher's Prometheus metrics.
type mailMetrics struct {
	sent, failed *prometheus.CounterVec
}

var _ ports.MailStats = (*mailMetrics)(nil)

// newMailMetrics registers authd_mail_sent_total, authd_mail_failed_total
// (by template) and authd_mail_outbox_pending on reg.
func newMailMetrics(reg *prometheus.Registry, outbox ports.MailOutbox) *mailMetrics {
	m := &mailMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_mail_sent_total", Help: "Mails delivered to the SMTP server, by template.",
		}, []string{"template"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_mail_failed_total", Help: "Mails given up after their last delivery attempt, by template.",
		}, []string{"template"}),
	}
	for _, t := range domain.MailTemplates() {
		m.sent.WithLabelValues(string(t))
		m.failed.WithLabelValues(string(t))
	}
	// The count is read at scrape time; while the database does not
	// answer, the last count stands.
	var last atomic.Int64
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authd_mail_outbox_pending", Help: "Mails queued and not yet sent or given up (all instances).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if n, err := outbox.Pending(ctx); err == nil {
			last.Store(int64(n))
		}
		return float64(last.Load())
	})
	reg.MustRegister(m.sent, m.failed, pending)
	return m
}

func (m *mailMetrics) MailSent(t domain.MailTemplate)   { m.sent.WithLabelValues(string(t)).Inc() }
func (m *mailMetrics) MailFailed(t domain.MailTemplate) { m.failed.WithLabelValues(string(t)).Inc() }
