package httpapi_test

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkRefresh rotates one session through the HTTP layer, middleware
// and handler included, on the memory adapters: what a rotation costs
// authd in Go besides the database and the network.
func BenchmarkRefresh(b *testing.B) {
	f := newFixtureWith(b, options{quiet: true})
	token := f.newAccount(b, "bench@example.com").tokens.RefreshToken
	handler := f.app.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.ResetUserValues()
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/v1/auth/refresh")
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBodyString(`{"refresh_token":"` + token + `"}`)
		handler(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status %d: %s\n%s", ctx.Response.StatusCode(), ctx.Response.Body(), f.logs.String())
		}
		var t struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(ctx.Response.Body(), &t); err != nil {
			b.Fatal(err)
		}
		token = t.RefreshToken
	}
}
