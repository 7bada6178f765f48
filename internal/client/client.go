// Package client is the typed Go client of rewind serve's API (/api/v1):
// one method per route, the wire types beside them (most are action's, the
// same the server encodes), and errors of the type the server answered
// (PermissionDenied, Unauthenticated, …) as domain errors, so a refusal
// read through the API is the refusal store-direct. The remote CLI is a
// thin layer over it; Routes lists what it calls, and the API's tests
// check each against the OpenAPI document.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Client calls one rewind serve with one token.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Timeout bounds one call; a rollback's plan waits for a worker up to the
// server's PlanTimeout (60s) first.
const Timeout = 2 * time.Minute

// New checks the URL and the token's presence (not its validity: Whoami
// does that).
func New(baseURL, token string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, domain.Errorf(domain.InvalidInput, "REWIND_API_URL %q must be an http(s) URL such as https://rewind.example.com", baseURL)
	}
	if token == "" {
		return nil, domain.Errorf(domain.InvalidInput, "REWIND_API_URL is set but there is no token: set REWIND_TOKEN or run `rewind login`")
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: &http.Client{Timeout: Timeout}}, nil
}

// BaseURL is the server this client calls.
func (c *Client) BaseURL() string { return c.base }

// apiError is an answer's {"error":{…}}.
type apiError struct {
	Error domain.ErrorDetail `json:"error"`
}

// Do sends one request and decodes a 2xx answer into out; any other answer
// becomes an error of the type the server gave.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("rewind serve at %s did not answer: %w", c.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(raw, &e) != nil || e.Error.Type == "" {
			return fmt.Errorf("rewind serve answered %s to %s %s", res.Status, method, path)
		}
		msg := e.Error.Message
		if e.Error.WorkflowID != "" {
			msg += " (workflow " + e.Error.WorkflowID + ", run " + e.Error.RunID + ")"
		}
		return domain.Errorf(domain.ErrorType(e.Error.Type), "%s", msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("rewind serve's answer to %s %s is not what this client expects: %w", method, path, err)
	}
	return nil
}

// Route is one of the API's routes as ServeMux patterns write it.
type Route struct{ Method, Pattern string }

// call fills the route's {wildcards} with args, path-escaped, in order, and
// sends it with the query.
func (c *Client) call(ctx context.Context, r Route, args []string, q url.Values, body, out any) error {
	p := r.Pattern
	for _, a := range args {
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		if i < 0 || j < i {
			return fmt.Errorf("client: route %s has fewer wildcards than arguments", r.Pattern)
		}
		p = p[:i] + url.PathEscape(a) + p[j+1:]
	}
	if strings.Contains(p, "{") {
		return fmt.Errorf("client: route %s needs more arguments", r.Pattern)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return c.Do(ctx, r.Method, p, body, out)
}
