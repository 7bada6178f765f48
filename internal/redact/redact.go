// Package redact keeps secrets out of messages: passwords inside URL-valued
// settings (REWIND_DATABASE_URL, Elasticsearch addresses) and the values of
// secret settings. Error messages end up in terminals, CI logs, Temporal
// failures and issue trackers, so a secret must never reach one.
package redact

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces a secret; the shape (user:xxxxx@host) stays readable.
const Mask = "xxxxx"

// secretParam matches query or key=value parameters that carry secrets, as
// libpq and pgx accept them (postgres://host/db?password=…).
var secretParam = regexp.MustCompile(`(?i)((?:^|[?&;\s])(?:password|sslpassword|passwd|pwd|api_?key|apikey|secret|token)=)([^&;\s#]*)`)

// URL returns raw with the password of its userinfo and any secret-looking
// parameter masked: postgres://user:hunter2@host/db becomes
// postgres://user:xxxxx@host/db. It works on the string rather than on
// url.Parse, because a malformed URL (a password with a raw '/', '?' or
// '@') is exactly the one that ends up in an error message; the last '@'
// after the scheme ends the userinfo, so such passwords are masked whole,
// at worst with some of the host.
func URL(raw string) string {
	s := secretParam.ReplaceAllString(raw, "${1}"+Mask)
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return s[:i+3] + user + ":" + Mask + rest[at:]
}

// Secrets are the secret parts of a URL-valued setting, as written and
// percent-decoded, longest first, for Scrub.
func Secrets(raw string) []string {
	var out []string
	add := func(v string) {
		if v == "" || v == Mask {
			return
		}
		out = append(out, v)
		if d, err := url.PathUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
	}
	for _, m := range secretParam.FindAllStringSubmatch(raw, -1) {
		add(m[2])
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return len(out[a]) > len(out[b]) })
	return out
}

// Scrub masks every occurrence of the secrets in msg: for messages made by
// libraries (a driver's connection error) that may quote a secret in a
// form URL cannot recognise.
func Scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, Mask)
	}
	return msg
}

// secretName is a setting whose whole value is secret.
var secretName = regexp.MustCompile(`_(PASSWORD|SECRET|KEYS?|TOKEN)$`)

// Setting is how a setting's value may be shown: "(hidden)" for secrets by
// name (…_PASSWORD, …_API_KEY, …_SESSION_KEY, …_PAYLOAD_KEYS, …_TOKEN; a
// …_TLS_KEY file path is hidden too, which costs little), else with any URL
// password masked. Comma-separated lists are masked element by element, as
// they are parsed.
func Setting(name, value string) string {
	if secretName.MatchString(name) {
		if value == "" {
			return ""
		}
		return "(hidden)"
	}
	if !strings.Contains(value, ",") {
		return URL(value)
	}
	parts := strings.Split(value, ",")
	for i, p := range parts {
		parts[i] = URL(p)
	}
	// A password may itself hold a comma; masking the whole value as well
	// catches what the split cut in two.
	return Scrub(strings.Join(parts, ","), Secrets(value))
}

// SecretName says whether a variable or setting holds a secret by its name
// alone (…_PASSWORD, …_SECRET, …_KEY, …_KEYS, …_TOKEN): AIRFLOW__CORE__FERNET_KEY,
// AIRFLOW__WEBSERVER__SECRET_KEY, DB_PASSWORD.
func SecretName(name string) bool { return secretName.MatchString(strings.ToUpper(name)) }

// EnvSecrets are the secrets of a container's environment ("NAME=value"),
// for Scrub over what the container printed: the whole value of a variable
// with a secret name, and the password of any URL-valued one (a
// SQL_ALCHEMY_CONN). Other values stay readable: an executor's name in a
// log is not a secret, and masking it would hide why a start failed.
func EnvSecrets(env []string) []string {
	var out []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		if SecretName(name) {
			out = append(out, value)
		}
		out = append(out, Secrets(value)...)
	}
	sort.Slice(out, func(a, b int) bool { return len(out[a]) > len(out[b]) })
	return out
}
