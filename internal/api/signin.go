package api

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxNext bounds a post-sign-in target; rewind's own paths are short.
const maxNext = 2048

// safeNext keeps a post-sign-in redirect on this site: next must be one of
// the server's own paths, else it becomes "/". Browsers are more lenient
// than Go's parser: they drop tabs and newlines anywhere in a URL, read
// '\' as '/', and take "//host" as another site, so "/\t/evil.example"
// (sent as /%09/evil.example) passed a prefix check and left. So next is
// checked as written and after each percent-decoding (a proxy or a later
// redirect may decode "/%2F%2Fevil" into "///evil"; rewind's own links
// never encode a slash, so refusing those costs nothing): printable ASCII
// only, no backslash, one leading '/', never "//", and no scheme, host or
// user once parsed.
func safeNext(next string) string {
	if len(next) > maxNext {
		return "/"
	}
	form := next
	for range 3 {
		if !ownPath(form) {
			return "/"
		}
		decoded, err := url.PathUnescape(form)
		if err != nil {
			return "/"
		}
		if decoded == form {
			return next
		}
		form = decoded
	}
	return "/" // still encoded three levels down: nobody's own link
}

// ownPath checks one form of a redirect target.
func ownPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

type signinView struct {
	view
	Next string
}

// signinForm sets a pre-session CSRF cookie, so a sign-in cannot be forged
// from another site either.
func (p *page) signinForm(w http.ResponseWriter, r *http.Request) {
	p.renderSignin(w, http.StatusOK, "", safeNext(r.URL.Query().Get("next")))
}

func (p *page) renderSignin(w http.ResponseWriter, status int, msg, next string) {
	csrf := randomString(24)
	p.s.setCookie(w, preSessionCSRF, csrf, 30*time.Minute)
	p.render(w, status, "signin", signinView{view{CSRF: csrf, Error: msg}, next})
}

func (p *page) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(preSessionCSRF)
	if err != nil || !sameSecret(r.PostForm.Get("csrf"), c.Value) {
		http.Error(w, "the sign-in form expired or came from another site; reload it and try again", http.StatusForbidden)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	ctx := r.Context()
	t, err := p.s.authenticate(r, "sign-in", strings.TrimSpace(r.PostForm.Get("token")))
	if err != nil {
		status, d := classify(err, p.s.log)
		setRetryAfter(w, err)
		p.renderSignin(w, status, "Sign-in failed: "+d.Message, next)
		return
	}
	// Signing in again replaces the session this browser had.
	if old, ok := p.s.sessionFrom(r); ok {
		if err := p.s.endSession(ctx, old); err != nil {
			p.s.log.Warn("ending the previous session at sign-in", "error", err)
		}
	}
	if err := p.s.startSession(ctx, w, t); err != nil {
		status, d := classify(err, p.s.log)
		p.renderSignin(w, status, "Sign-in failed: "+d.Message, next)
		return
	}
	p.s.setCookie(w, preSessionCSRF, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout ends the session in the store before dropping the cookie: a copy
// of the cookie (another tab, a proxy's log, a stolen laptop's profile)
// must stop working too. If the store cannot record it, the cookie is kept
// so the user can try again rather than believe they are signed out.
func (p *page) signout(w http.ResponseWriter, r *http.Request, ss session) {
	if err := p.s.endSession(r.Context(), ss); err != nil {
		p.s.log.Error("ending a session at sign-out", "user", ss.User, "error", err)
		http.Error(w, "sign-out failed: the server could not end the session; try again", http.StatusServiceUnavailable)
		return
	}
	p.s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
