package httpapi

import (
	"fmt"
	"mime"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// Keys of the values the edge leaves in c.Locals.
const (
	requestIDKey = "authd.request_id"
	clientIPKey  = "authd.client_ip"
)

// Headers of the edge.
const (
	headerRequestID = "X-Request-ID"
	// hstsValue asks browsers to use https for a year, subdomains included.
	hstsValue = "max-age=31536000; includeSubDomains"
	// corsAllowHeaders are the request headers a browser may send cross-origin.
	corsAllowHeaders = "Authorization, Content-Type, X-Request-ID"
	// corsExposeHeaders are the response headers a cross-origin script may read
	// beyond the CORS-safelisted ones.
	corsExposeHeaders = "Retry-After, WWW-Authenticate, X-Request-ID"
	// corsMaxAge is how long, in seconds, a browser may cache a preflight answer.
	corsMaxAge = "600"
	// maxRequestIDLen bounds a client's X-Request-ID.
	maxRequestIDLen = 128
)

// Origins are the browser origins allowed to call the API cross-origin
// (CORS). The zero value allows none.
type Origins struct {
	set map[string]bool
}

// ParseOrigins parses a comma-separated list of exact origins,
// scheme://host[:port] with scheme http or https. Each is stored the way
// browsers send it in the Origin header: lower-case, default port omitted.
// The wildcard "*" and "null" are refused.
func ParseOrigins(list string) (Origins, error) {
	o := Origins{set: map[string]bool{}}
	for _, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		origin, err := parseOrigin(s)
		if err != nil {
			return Origins{}, err
		}
		o.set[origin] = true
	}
	return o, nil
}

func parseOrigin(s string) (string, error) {
	if s == "*" || s == "null" {
		return "", fmt.Errorf("%q: list each origin exactly; wildcards and null are not allowed", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin of the form https://host[:port]", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%q: an origin is scheme://host[:port], without user, path, query or fragment", s)
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && a.Zone() == "" {
		host = "[" + host + "]"
	} else {
		for i := 0; i < len(host); i++ {
			c := host[i]
			if c >= 0x80 {
				return "", fmt.Errorf("%q: write an internationalised host in its ASCII (xn--) form, as browsers send it", s)
			}
			if !isIDChar(c) || c == '_' {
				return "", fmt.Errorf("%q: the host may hold only letters, digits, dots and hyphens (no wildcards)", s)
			}
		}
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port must be from 1 to 65535", s)
		}
		if (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
			port = ""
		}
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// List returns the allowed origins, sorted.
func (o Origins) List() []string {
	out := make([]string, 0, len(o.set))
	for k := range o.set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Equal reports whether o and p allow the same origins.
func (o Origins) Equal(p Origins) bool {
	if len(o.set) != len(p.set) {
		return false
	}
	for k := range o.set {
		if !p.set[k] {
			return false
		}
	}
	return true
}

func (o Origins) allows(origin string) bool { return o.set[origin] }

// stamp gives every answer what the edge owes it: a request id, the
// client's address, nosniff, HSTS on an https issuer, and CORS headers for
// allowed origins. It runs first on every request and again from the error
// handler, for answers Fiber gives before any middleware runs (a body over
// the limit); the second run changes nothing.
func (s *server) stamp(c *fiber.Ctx) error {
	s.stampHeaders(c)
	return c.Next()
}

func (s *server) stampHeaders(c *fiber.Ctx) {
	if _, done := c.Locals(requestIDKey).(string); done {
		return
	}
	id := c.Get(headerRequestID)
	if !validRequestID(id) {
		id = uuid.NewString()
	} else {
		id = strings.Clone(id) // Fiber's strings alias buffers reused by later requests
	}
	c.Locals(requestIDKey, id)
	c.Set(headerRequestID, id)
	c.Locals(clientIPKey, s.clientIP(c))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if s.hsts {
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
	if len(s.cfg.CORSOrigins.set) == 0 {
		return
	}
	// Whether an answer carries CORS headers depends on Origin, so caches
	// must keep one copy per origin.
	c.Vary(fiber.HeaderOrigin)
	if origin := c.Get(fiber.HeaderOrigin); s.cfg.CORSOrigins.allows(origin) {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlExposeHeaders, corsExposeHeaders)
	}
}

// validRequestID reports whether a client's X-Request-ID may be kept: 1 to
// 128 characters of [A-Za-z0-9._-], so that it is safe in logs and headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			return false
		}
	}
	return true
}

// requestID returns the request's id.
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDKey).(string)
	return id
}

// clientIP resolves the client's address from the socket peer and, when the
// peer is a trusted proxy, its forwarding headers.
func (s *server) clientIP(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if !s.cfg.TrustedProxies.trusts(peer) {
		return peer
	}
	h := &c.Request().Header
	return s.cfg.TrustedProxies.ClientIP(peer, headerLines(h.PeekAll(fiber.HeaderXForwardedFor)), headerLines(h.PeekAll("Forwarded")))
}

func headerLines(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// preflight answers OPTIONS on every path of the table: a CORS preflight
// from an allowed origin gets the path's methods and the request headers the
// API reads; a request from any other origin gets 403 origin_not_allowed,
// without CORS headers, so the browser refuses the call; an OPTIONS without
// Origin gets the path's Allow header.
func (s *server) preflight(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodOptions {
		return c.Next()
	}
	methods := s.methodsOf(c.Path())
	if len(methods) == 0 {
		return errNotFound
	}
	c.Set(fiber.HeaderAllow, allowHeader(methods))
	if origin := c.Get(fiber.HeaderOrigin); origin != "" {
		if !s.cfg.CORSOrigins.allows(origin) {
			return errOriginNotAllowed
		}
		c.Set(fiber.HeaderAccessControlAllowMethods, strings.Join(methods, ", "))
		c.Set(fiber.HeaderAccessControlAllowHeaders, corsAllowHeaders)
		c.Set(fiber.HeaderAccessControlMaxAge, corsMaxAge)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// methodsOf returns the sorted methods the table serves on path, HEAD
// included for GET routes.
func (s *server) methodsOf(path string) []string {
	var methods []string
	for _, r := range s.routes {
		if pathMatches(r.path, path) {
			methods = append(methods, r.method)
			if r.method == fiber.MethodGet {
				methods = append(methods, fiber.MethodHead)
			}
		}
	}
	sort.Strings(methods)
	return methods
}

// guard is the first handler of every route: it applies what the route
// table says about the route, the media type its body must have and
// whether its answers may be stored.
func guard(r route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if r.private {
			c.Set(fiber.HeaderCacheControl, "no-store")
		}
		switch r.body {
		case bodyJSON:
			if !isJSON(c.Get(fiber.HeaderContentType)) {
				return errMediaType
			}
		case bodyOptionalJSON:
			if len(c.Body()) > 0 && !isJSON(c.Get(fiber.HeaderContentType)) {
				return errMediaType
			}
		case bodyForm:
			if !isForm(c.Get(fiber.HeaderContentType)) {
				if !r.oauth {
					return errFormMediaType
				}
				return &oauthParamError{"the body must be application/x-www-form-urlencoded"}
			}
		}
		return c.Next()
	}
}

// isJSON reports whether contentType is application/json, with at most a
// UTF-8 charset parameter (RFC 8259 §8.1: JSON is UTF-8).
func isJSON(contentType string) bool {
	return mediaType(contentType, fiber.MIMEApplicationJSON)
}

// isForm reports whether contentType is application/x-www-form-urlencoded,
// with at most a UTF-8 charset parameter.
func isForm(contentType string) bool {
	return mediaType(contentType, fiber.MIMEApplicationForm)
}

func mediaType(contentType, want string) bool {
	if contentType == want {
		return true // what clients send; mime.ParseMediaType allocates
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != want {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}
