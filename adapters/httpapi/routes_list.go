package httpapi

import "strings"

// Routes lists every route the server answers, as method and path pattern
// pairs in the route table's order, with path parameters in OpenAPI form
// ("/v1/admin/users/{id}" rather than Fiber's "/v1/admin/users/:id"). Tests
// use it to check that the OpenAPI document describes exactly these routes.
func Routes() [][2]string {
	table := (&server{}).routeTable()
	out := make([][2]string, len(table))
	for i, r := range table {
		out[i] = [2]string{r.method, openAPIPath(r.path)}
	}
	return out
}

// PrivateRoutes lists, like Routes, the routes whose every answer carries
// Cache-Control: no-store because it is about a user or their tokens.
func PrivateRoutes() [][2]string {
	var out [][2]string
	for _, r := range (&server{}).routeTable() {
		if r.private {
			out = append(out, [2]string{r.method, openAPIPath(r.path)})
		}
	}
	return out
}

// openAPIPath converts a Fiber route pattern to an OpenAPI path template.
func openAPIPath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + strings.TrimSuffix(name, "?") + "}"
		}
	}
	return strings.Join(segs, "/")
}
