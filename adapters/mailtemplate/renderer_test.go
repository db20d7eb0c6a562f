package mailtemplate_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authd/adapters/mailtemplate"
	"authd/domain"
	"authd/ports"
)

var data = ports.MailData{
	Link:      "https://authd.test/account/reset-password?token=Secret-Token_123",
	ExpiresIn: 30 * time.Minute,
	NewEmail:  "new@example.com",
	Client:    domain.NewClientInfo("<script>alert(1)</script>", "198.51.100.7"),
	At:        time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC),
	Method:    "passkey",
}

// linkMails are the templates whose whole point is their link.
var linkMails = map[domain.MailTemplate]bool{
	domain.MailVerifyEmail:        true,
	domain.MailResetPassword:      true,
	domain.MailEmailChangeConfirm: true,
}

func TestDefaultTemplatesRender(t *testing.T) {
	t.Parallel()
	r, err := mailtemplate.Default()
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]domain.MailTemplate{}
	for _, tmpl := range domain.MailTemplates() {
		c, err := r.Render(tmpl, data)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		if other, dup := subjects[c.Subject]; dup {
			t.Errorf("%s and %s share the subject %q", tmpl, other, c.Subject)
		}
		subjects[c.Subject] = tmpl
		if !strings.HasPrefix(c.HTML, "<!DOCTYPE html>") || !strings.Contains(c.HTML, "</html>") {
			t.Errorf("%s: the HTML body is not a whole document:\n%s", tmpl, c.HTML)
		}
		if strings.Contains(c.HTML, "<script>") {
			t.Errorf("%s: the HTML body does not escape the data:\n%s", tmpl, c.HTML)
		}
		if linkMails[tmpl] {
			for part, body := range map[string]string{"text": c.Text, "html": c.HTML} {
				if !strings.Contains(body, "Secret-Token_123") {
					t.Errorf("%s: the %s body lacks the link:\n%s", tmpl, part, body)
				}
			}
			if !strings.Contains(c.Text, "30 minutes") {
				t.Errorf("%s: the text body does not say how long the link works:\n%s", tmpl, c.Text)
			}
		}
	}
}

func TestRenderWithoutOptionalData(t *testing.T) {
	t.Parallel()
	r, err := mailtemplate.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range domain.MailTemplates() {
		c, err := r.Render(tmpl, ports.MailData{})
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		if strings.Contains(c.Text+c.HTML, "Request from") {
			t.Errorf("%s: the mail mentions a request origin it was not given", tmpl)
		}
	}
}

func TestRenderUnknownTemplate(t *testing.T) {
	t.Parallel()
	r, err := mailtemplate.Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render("no_such_mail", data); !errors.Is(err, ports.ErrUnknownMailTemplate) {
		t.Fatalf("Render(no_such_mail): %v, want ErrUnknownMailTemplate", err)
	}
}

// copyDefaults writes the embedded templates into a new directory.
func copyDefaults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(mailtemplate.Embedded, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(mailtemplate.Embedded, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, d.Name()), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTemplatesFromDir(t *testing.T) {
	t.Parallel()
	dir := copyDefaults(t)
	if err := os.WriteFile(filepath.Join(dir, "password_changed.subject.tmpl"), []byte("Password changed at Example Corp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := mailtemplate.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Render(domain.MailPasswordChanged, data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "Password changed at Example Corp" {
		t.Errorf("subject = %q, want the directory's", c.Subject)
	}
}

// TestBadTemplateDirs: every way a directory can be wrong fails loading,
// with a message naming the file.
func TestBadTemplateDirs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(dir string) error
		names string
	}{
		{"missing template part", func(dir string) error {
			return os.Remove(filepath.Join(dir, "reset_password.html.tmpl"))
		}, "reset_password.html.tmpl"},
		{"missing layout", func(dir string) error {
			return os.Remove(filepath.Join(dir, "layout.html.tmpl"))
		}, "layout.html.tmpl"},
		{"unknown file", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "pasword_changed.subject.tmpl"), []byte("typo"), 0o600)
		}, "pasword_changed.subject.tmpl"},
		{"syntax error", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "verify_email.text.tmpl"), []byte("{{if .Link}}unclosed"), 0o600)
		}, "verify_email.text.tmpl"},
		{"html syntax error", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "verify_email.html.tmpl"), []byte(`{{define "content"}}{{.Link}`), 0o600)
		}, "verify_email.html.tmpl"},
		{"html without content", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "mfa_removed.html.tmpl"), []byte("<p>hello</p>"), 0o600)
		}, "mfa_removed.html.tmpl"},
		{"unknown field", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "mfa_enrolled.text.tmpl"), []byte("Hello {{.UserName}}"), 0o600)
		}, "mfa_enrolled.text.tmpl"},
		{"two-line subject", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "recovery_code_used.subject.tmpl"), []byte("Hello\nBcc: x@example.com"), 0o600)
		}, "recovery_code_used.subject.tmpl"},
		{"empty text body", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "recovery_code_used.text.tmpl"), []byte("  \n"), 0o600)
		}, "recovery_code_used.text.tmpl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDefaults(t)
			if err := tt.edit(dir); err != nil {
				t.Fatal(err)
			}
			_, err := mailtemplate.FromDir(dir)
			if err == nil {
				t.Fatal("FromDir accepted the directory")
			}
			if !strings.Contains(err.Error(), tt.names) {
				t.Errorf("the error does not name %s: %v", tt.names, err)
			}
		})
	}
	if _, err := mailtemplate.FromDir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("FromDir accepted a directory that does not exist")
	}
}
