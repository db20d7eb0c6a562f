// Package openapitest checks HTTP responses of authd's API against its
// OpenAPI document (httpapi.OpenAPIDocument) in tests.
//
// A test that sends a request to the server passes the request and the
// response it got to Check (or CheckResponse); the test fails when the
// request's route is not documented, when the status is not documented for
// that operation, or when a documented header or the body does not match the
// document. Requests are not validated: tests send deliberately bad ones.
//
// Beyond what OpenAPI 3.0 can say per operation, the document declares two
// things every answer obeys, and the validator holds every answer to them:
// the headers of every response (the top-level x-response-headers, which
// maps header names to components.headers), and the answers to OPTIONS on
// any documented path (components.responses Preflight and OriginNotAllowed);
// and, like the fallback for unknown paths, the answer to headers over the
// server's limit on any request (components.responses
// RequestHeaderFieldsTooLarge).
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"authd/adapters/httpapi"
)

// Names of the components the fallback for unknown paths and methods, and
// the answers to OPTIONS, use.
const (
	notFoundResponse         = "NotFound"
	methodNotAllowedResponse = "MethodNotAllowed"
	preflightResponse        = "Preflight"
	originNotAllowedResponse = "OriginNotAllowed"
	payloadTooLargeResponse  = "PayloadTooLarge"
	internalErrorResponse    = "InternalError"
	headersTooLargeResponse  = "RequestHeaderFieldsTooLarge"
	// everyResponseHeaders is the top-level extension naming the headers of
	// every response.
	everyResponseHeaders = "x-response-headers"
)

// Validator validates responses against the OpenAPI document. It is safe
// for concurrent use by parallel tests.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// unmatched documents the answers to requests no route takes:
	// 404 not_found and 405 method_not_allowed problems.
	unmatched *openapi3.Operation
	// options documents the answers to OPTIONS on a documented path.
	options *openapi3.Operation
	// anyRequest documents the answers the server gives to any request
	// before reading it: 431 for headers over its limit.
	anyRequest *openapi3.Operation
	// every holds the headers of every response, by header name.
	every map[string]*openapi3.Header
}

// The document is loaded, validated and routed once per test binary.
var (
	loadOnce   sync.Once
	loaded     *Validator
	loadErrMsg error
)

// New returns a Validator for httpapi.OpenAPIDocument. It fails t when the
// document does not load, is not a valid OpenAPI 3 document, or lacks the
// components the validator relies on.
func New(t testing.TB) *Validator {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErrMsg = load(httpapi.OpenAPIDocument) })
	if loadErrMsg != nil {
		t.Fatalf("openapitest: %v", loadErrMsg)
	}
	return loaded
}

// The hosted pages answer HTML, which the validator checks as a string
// (its media type and headers, not its markup).
func init() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) }

// load builds a Validator from an OpenAPI document.
func load(data []byte) (*Validator, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing the OpenAPI document: %w", err)
	}
	v := &Validator{doc: doc, router: router}
	if v.unmatched, err = componentOperation(doc, map[int]string{
		http.StatusNotFound:         notFoundResponse,
		http.StatusMethodNotAllowed: methodNotAllowedResponse,
	}); err != nil {
		return nil, err
	}
	if v.options, err = componentOperation(doc, map[int]string{
		http.StatusNoContent:             preflightResponse,
		http.StatusForbidden:             originNotAllowedResponse,
		http.StatusNotFound:              notFoundResponse,
		http.StatusRequestEntityTooLarge: payloadTooLargeResponse,
		http.StatusInternalServerError:   internalErrorResponse,
	}); err != nil {
		return nil, err
	}
	if v.anyRequest, err = componentOperation(doc, map[int]string{
		http.StatusRequestHeaderFieldsTooLarge: headersTooLargeResponse,
	}); err != nil {
		return nil, err
	}
	if v.every, err = everyHeaders(doc); err != nil {
		return nil, err
	}
	return v, nil
}

// componentOperation builds an operation answering each status with the
// named components.responses entry.
func componentOperation(doc *openapi3.T, byStatus map[int]string) (*openapi3.Operation, error) {
	responses := openapi3.NewResponses()
	for status, name := range byStatus {
		var ref *openapi3.ResponseRef
		if doc.Components != nil {
			ref = doc.Components.Responses[name]
		}
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("the OpenAPI document has no components.responses.%s", name)
		}
		responses.Set(fmt.Sprint(status), ref)
	}
	return &openapi3.Operation{Responses: responses}, nil
}

// everyHeaders reads the x-response-headers extension: header name to the
// name of a components.headers entry.
func everyHeaders(doc *openapi3.T) (map[string]*openapi3.Header, error) {
	raw, ok := doc.Extensions[everyResponseHeaders]
	if !ok {
		return nil, fmt.Errorf("the OpenAPI document has no %s", everyResponseHeaders)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var names map[string]string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("%s must map header names to components.headers names: %w", everyResponseHeaders, err)
	}
	out := make(map[string]*openapi3.Header, len(names))
	for header, component := range names {
		ref := doc.Components.Headers[component]
		if ref == nil || ref.Value == nil || ref.Value.Schema == nil || ref.Value.Schema.Value == nil {
			return nil, fmt.Errorf("%s names %s, which components.headers lacks or gives no schema", everyResponseHeaders, component)
		}
		out[http.CanonicalHeaderKey(header)] = ref.Value
	}
	return out, nil
}

// checkEveryHeaders reports how header departs from the headers every
// response carries.
func (v *Validator) checkEveryHeaders(header http.Header) error {
	names := make([]string, 0, len(v.every))
	for name := range v.every {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		h := v.every[name]
		values := header.Values(name)
		if len(values) == 0 {
			if h.Required {
				errs = append(errs, fmt.Errorf("response header %s is missing (every response has it)", name))
			}
			continue
		}
		value := strings.Join(values, ", ")
		if err := h.Schema.Value.VisitJSON(value); err != nil {
			errs = append(errs, fmt.Errorf("response header %s %q: %w", name, value, err))
		}
	}
	return errors.Join(errs...)
}

// Doc returns the loaded document. Callers must not modify it.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Validate reports how the response (status, header, body) to req departs
// from the document, or nil when it conforms. Check is Validate that fails
// the test; Validate itself lets tests prove that the validator rejects a
// response.
func (v *Validator) Validate(req *http.Request, status int, header http.Header, body []byte) error {
	if header == nil {
		header = http.Header{}
	}
	if err := v.checkEveryHeaders(header); err != nil {
		return fmt.Errorf("%s %s answered %d: %w", req.Method, req.URL.Path, status, err)
	}
	if req.Method == http.MethodHead {
		return v.validateHead(req, status, header, body)
	}
	route, params, err := v.findRoute(req)
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		// Refused before routing, whatever the request.
		route = &routers.Route{Spec: v.doc, Path: req.URL.Path, Method: req.Method, Operation: v.anyRequest}
		params = nil
	case err == nil:
	case req.Method == http.MethodOptions && errors.Is(err, routers.ErrMethodNotAllowed):
		// OPTIONS on a documented path: the answers every path shares.
		route = &routers.Route{Spec: v.doc, Path: req.URL.Path, Method: req.Method, Operation: v.options}
		params = nil
	case errors.Is(err, routers.ErrPathNotFound), errors.Is(err, routers.ErrMethodNotAllowed):
		// Deliberately unknown paths and methods: only the generic
		// not_found / method_not_allowed answers are allowed.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not documented (%v) and was answered %d", req.Method, req.URL.Path, err, status)
		}
		route = &routers.Route{Spec: v.doc, Path: req.URL.Path, Method: req.Method, Operation: v.unmatched}
		params = nil
	default:
		return fmt.Errorf("%s %s: finding the route: %w", req.Method, req.URL.Path, err)
	}
	if req.Method == http.MethodHead {
		// ValidateResponse skips HEAD, whose answers have no body. HEAD is
		// not part of the API: only the generic answers above get here.
		if route.Operation != v.unmatched {
			return nil
		}
		if status == http.StatusMethodNotAllowed && header.Get("Allow") == "" {
			return fmt.Errorf("HEAD %s: 405 response has no Allow header", req.URL.Path)
		}
		return nil
	}
	if status == http.StatusNoContent && len(body) != 0 {
		return fmt.Errorf("%s %s: 204 response has a body (%d bytes)", req.Method, req.URL.Path, len(body))
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options:    &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (documented as %s) answered %d: %w", req.Method, req.URL.Path, route.Path, status, err)
	}
	return nil
}

// findRoute finds req's operation. Fiber ignores one trailing slash, so a
// path that is only documented without it is looked up again without it.
func (v *Validator) findRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := v.router.FindRoute(req)
	if err == nil || !errors.Is(err, routers.ErrPathNotFound) {
		return route, params, err
	}
	p := req.URL.Path
	if len(p) <= 1 || !strings.HasSuffix(p, "/") {
		return route, params, err
	}
	r2 := req.Clone(req.Context())
	u := *req.URL
	u.Path = strings.TrimSuffix(p, "/")
	u.RawPath = ""
	r2.URL = &u
	if route2, params2, err2 := v.router.FindRoute(r2); err2 == nil {
		return route2, params2, nil
	}
	return route, params, err
}

// Check fails t unless the response (status, header, body) to req conforms
// to the document: req's route must be documented (unknown paths and
// methods may only be answered with a 404 or 405 problem), status must be
// documented for the operation, and documented headers and the body must
// match their schemas and media types.
func (v *Validator) Check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if err := v.Validate(req, status, header, body); err != nil {
		t.Errorf("openapitest: response does not conform to the OpenAPI document: %v\nbody: %s", err, truncate(body))
	}
}

// CheckResponse reads resp's body, restores it so that the caller can read
// it again, checks the response with Check and returns the body.
func (v *Validator) CheckResponse(t testing.TB, req *http.Request, resp *http.Response) []byte {
	t.Helper()
	var body []byte
	if resp.Body != nil {
		var err error
		body, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("openapitest: reading the response body: %v", err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if req == nil {
		req = resp.Request
	}
	if req == nil {
		t.Fatalf("openapitest: CheckResponse needs the request")
	}
	v.Check(t, req, resp.StatusCode, resp.Header, body)
	return body
}

// truncate shortens a body for a failure message.
func truncate(b []byte) string {
	const limit = 2048
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

// validateHead checks an answer to HEAD, which the server gives for every
// GET route: no body, and a status the GET operation documents (or the
// generic 404/405 answers for unknown paths).
func (v *Validator) validateHead(req *http.Request, status int, header http.Header, body []byte) error {
	if len(body) != 0 {
		return fmt.Errorf("HEAD %s: answer has a body", req.URL.Path)
	}
	get := req.Clone(req.Context())
	get.Method = http.MethodGet
	route, _, err := v.findRoute(get)
	if err != nil {
		if status == http.StatusNotFound {
			return nil
		}
		if status == http.StatusMethodNotAllowed && header.Get("Allow") != "" {
			return nil
		}
		return fmt.Errorf("HEAD %s is not documented (%v) and was answered %d", req.URL.Path, err, status)
	}
	if route.Operation.Responses.Status(status) == nil {
		return fmt.Errorf("HEAD %s: status %d is not documented for GET", req.URL.Path, status)
	}
	return nil
}
