// Package mailtemplate renders authd's mails from templates: for each
// domain.MailTemplate a subject and a plain-text body (text/template) and
// an HTML body (html/template, inside a shared layout).
//
// The defaults are embedded. A template directory replaces them whole: it
// must hold every file of the embedded set (templates/ in this package is
// the model to copy) and nothing else, so that a missing, misnamed or
// broken template stops start-up instead of failing a send.
package mailtemplate

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"authd/domain"
	"authd/ports"
)

//go:embed templates/*.tmpl
var embedded embed.FS

// Layout is the file holding the HTML layout: it defines "layout", which
// every HTML body runs, and which runs the body's "content".
const Layout = "layout.html.tmpl"

// The parts of one template, as file name suffixes: NAME.subject.tmpl and
// NAME.text.tmpl (text/template) and NAME.html.tmpl (html/template, which
// defines "content").
const (
	subjectPart = ".subject.tmpl"
	textPart    = ".text.tmpl"
	htmlPart    = ".html.tmpl"
)

// Files returns the names of the files a template directory holds.
func Files() []string {
	names := []string{Layout}
	for _, t := range domain.MailTemplates() {
		names = append(names, string(t)+subjectPart, string(t)+textPart, string(t)+htmlPart)
	}
	return names
}

// Renderer implements ports.MailRenderer. It is safe for concurrent use.
type Renderer struct {
	mails map[domain.MailTemplate]*mail
}

var _ ports.MailRenderer = (*Renderer)(nil)

type mail struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Default returns the renderer of the embedded templates.
func Default() (*Renderer, error) {
	sub, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	return load(sub, "embedded templates")
}

// FromDir returns the renderer of the templates in dir, which must hold
// exactly the files Files names.
func FromDir(dir string) (*Renderer, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("mail templates: %s is not a directory", dir)
	}
	return load(os.DirFS(dir), dir)
}

// load parses every template of fsys and renders each once with sample
// data, so that a template that cannot run fails here.
func load(fsys fs.FS, where string) (*Renderer, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %s: %w", where, err)
	}
	want := Files()
	var errs []error
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			errs = append(errs, fmt.Errorf("%s is not a mail template (expected files: NAME.subject.tmpl, NAME.text.tmpl, NAME.html.tmpl for each mail, and %s)", e.Name(), Layout))
		}
	}
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: missing", name))
			return ""
		}
		return string(b)
	}
	layout, err := htmltemplate.New(Layout).Parse(read(Layout))
	if err != nil {
		errs = append(errs, err)
	} else if layout.Lookup("layout") == nil {
		errs = append(errs, fmt.Errorf(`%s: does not define "layout"`, Layout))
	}
	r := &Renderer{mails: map[domain.MailTemplate]*mail{}}
	for _, t := range domain.MailTemplates() {
		m, err := parse(t, read, layout)
		if err == nil {
			r.mails[t] = m
			_, err = r.Render(t, sample)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("mail templates (%s): %w", where, err)
	}
	return r, nil
}

func parse(t domain.MailTemplate, read func(string) string, layout *htmltemplate.Template) (*mail, error) {
	name := string(t)
	subjectSrc, textSrc, htmlSrc := read(name+subjectPart), read(name+textPart), read(name+htmlPart)
	if layout == nil || layout.Lookup("layout") == nil {
		return nil, fmt.Errorf("%s: no usable layout", name)
	}
	subject, err := texttemplate.New(name + subjectPart).Parse(subjectSrc)
	if err != nil {
		return nil, err
	}
	text, err := texttemplate.New(name + textPart).Parse(textSrc)
	if err != nil {
		return nil, err
	}
	html, err := layout.Clone()
	if err != nil {
		return nil, err
	}
	if html, err = html.New(name + htmlPart).Parse(htmlSrc); err != nil {
		return nil, err
	}
	if html.Lookup("content") == nil {
		return nil, fmt.Errorf(`%s%s: does not define "content"`, name, htmlPart)
	}
	return &mail{subject: subject, text: text, html: html}, nil
}

// sample fills every field, so that rendering it at load time runs every
// branch a template may take on present data.
var sample = ports.MailData{
	Link:      "https://authd.example/account/reset-password?token=sample",
	ExpiresIn: 30 * time.Minute,
	NewEmail:  "new@example.com",
	Client:    domain.NewClientInfo("Mozilla/5.0 (sample)", "192.0.2.1"),
	At:        time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
	Method:    "authenticator app",
}

// view is what the templates see: MailData spelled for people.
type view struct {
	Link      string
	ExpiresIn string
	NewEmail  string
	IP        string
	UserAgent string
	At        string
	Method    string
}

func newView(d ports.MailData) view {
	v := view{
		Link:      d.Link,
		NewEmail:  d.NewEmail,
		IP:        d.Client.IP(),
		UserAgent: d.Client.UserAgent(),
		Method:    d.Method,
	}
	if !d.At.IsZero() {
		v.At = d.At.UTC().Format("Mon, 2 Jan 2006 15:04 MST")
	}
	if d.ExpiresIn > 0 {
		v.ExpiresIn = humanDuration(d.ExpiresIn)
	}
	return v
}

// humanDuration spells d in its largest whole unit: "30 minutes", "1 hour",
// "24 hours".
func humanDuration(d time.Duration) string {
	n, unit := int64(d/time.Minute), "minute"
	if d >= time.Hour && d%time.Hour == 0 {
		n, unit = int64(d/time.Hour), "hour"
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Render fills template t with d. The subject must come out as one
// non-empty line.
func (r *Renderer) Render(t domain.MailTemplate, d ports.MailData) (domain.MailContent, error) {
	m, ok := r.mails[t]
	if !ok {
		return domain.MailContent{}, fmt.Errorf("mail template %q: %w", t, ports.ErrUnknownMailTemplate)
	}
	v := newView(d)
	var subject, text, html bytes.Buffer
	if err := m.subject.Execute(&subject, v); err != nil {
		return domain.MailContent{}, err
	}
	if err := m.text.Execute(&text, v); err != nil {
		return domain.MailContent{}, err
	}
	if err := m.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return domain.MailContent{}, err
	}
	c := domain.MailContent{
		Subject: strings.TrimSpace(subject.String()),
		Text:    strings.TrimLeft(text.String(), "\n"),
		HTML:    html.String(),
	}
	switch {
	case c.Subject == "" || strings.ContainsAny(c.Subject, "\r\n"):
		return domain.MailContent{}, fmt.Errorf("mail template %s: the subject must be one non-empty line", string(t)+subjectPart)
	case strings.TrimSpace(c.Text) == "":
		return domain.MailContent{}, fmt.Errorf("mail template %s: the text body is empty", string(t)+textPart)
	}
	return c, nil
}
