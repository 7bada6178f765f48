package api

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// seedDelivery gives d1 two deploys with commit times, the second rolled
// back automatically, and a failed deploy; d2 a deploy of its own.
func seedDelivery(t *testing.T, e *env) {
	t.Helper()
	for _, id := range []string{"d1", "d2"} {
		e.createDeployment(t, domain.Deployment{ID: id})
	}
	now := time.Now().UTC()
	hourAgo := now.Add(-time.Hour)
	git := &domain.GitInfo{Commit: "0123abcd", CommittedAt: &hourAgo}
	e.record(t, domain.Revision{DeploymentID: "d1", ImageRef: "r/a:1", Git: git, CreatedAt: now}, domain.StatusDeployed)
	bad := e.record(t, domain.Revision{DeploymentID: "d1", ImageRef: "r/a:2", Git: git, CreatedAt: now}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: "d1", ImageRef: "r/a:1", RollbackOf: 1, RolledBackFrom: bad.Number,
		CreatedBy: domain.AutomaticRequester, Description: "bake failed", CreatedAt: now}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: "d1", ImageRef: "r/a:3", CreatedAt: now}, domain.StatusFailed)
	e.record(t, domain.Revision{DeploymentID: "d2", ImageRef: "r/b:1", CreatedAt: now}, domain.StatusDeployed)
}

// The API's two metrics routes give each user only what it may read: a
// grant on d1 reads d1 and is refused d2 (403 whether or not it exists), and
// its across-deployments report holds d1 alone; a user without grants sees
// nothing at all. Hostile windows are InvalidInput; /metrics carries the
// installation-wide gauges and no deployment id.
func TestDeliveryMetricsAPIAndPermissions(t *testing.T) {
	e := offlineEnv(t)
	seedDelivery(t, e)
	e.grant(t, "alice", "d1", "viewer")
	alice, bob := e.token(t, "alice"), e.token(t, "bob")

	var rep action.MetricsReport
	r := e.call(t, "GET", "/api/v1/deployments/d1/metrics?since=7d", alice, nil)
	if r.status != 200 {
		t.Fatalf("alice, d1: %d %s", r.status, r.body)
	}
	r.json(t, &rep)
	cfr, rw := rep.ChangeFailureRate, rep.ReworkRate
	if rep.DeploymentID != "d1" || rep.Window != "7d" || rep.DeploymentFrequency.Deploys != 2 || rep.LeadTime.Count != 2 ||
		cfr.Deploys != 3 || cfr.Failed != 1 || cfr.RolledBack != 1 || cfr.Rate == nil || *cfr.Rate != 2.0/3 ||
		rep.RecoveryTime.Count != 1 || rw.Rollbacks != 1 || rw.AutomaticRollbacks != 1 || rw.Rate == nil || *rw.Rate != 1.0/3 ||
		rep.Bucket != "day" || len(rep.Trend) != 7 {
		t.Errorf("alice, d1: %s", r.body)
	}
	if m := rep.LeadTime.MedianSeconds; m < 3500 || m > 3700 {
		t.Errorf("lead time median %.0f s, want about an hour", m)
	}
	for _, c := range []struct{ path, token, want string }{
		{"/api/v1/deployments/d2/metrics", alice, "PermissionDenied"},
		{"/api/v1/deployments/nope/metrics", alice, "PermissionDenied"},
		{"/api/v1/deployments/d1/metrics", bob, "PermissionDenied"},
		{"/api/v1/deployments/d1/metrics?since=bogus", alice, "InvalidInput"},
		{"/api/v1/deployments/d1/metrics?since=367d", alice, "InvalidInput"},
		{"/api/v1/metrics?since=1d%27%20OR%201=1", alice, "InvalidInput"},
		{"/api/v1/deployments/D1;drop/metrics", alice, "InvalidInput"},
	} {
		if got := e.call(t, "GET", c.path, c.token, nil); got.status < 400 || got.errType(t) != c.want {
			t.Errorf("GET %s: %d %s, want %s", c.path, got.status, got.body, c.want)
		}
	}
	if got := e.call(t, "GET", "/api/v1/metrics", "", nil); got.status != 401 {
		t.Errorf("no token: %d", got.status)
	}

	var all action.MetricsReport
	e.call(t, "GET", "/api/v1/metrics", alice, nil).json(t, &all)
	if all.DeploymentID != "" || all.DeploymentFrequency.Deploys != 2 || len(all.Deployments) != 1 || all.Deployments[0].DeploymentID != "d1" {
		t.Errorf("alice, across deployments: %+v", all)
	}
	var none action.MetricsReport
	r = e.call(t, "GET", "/api/v1/metrics", bob, nil)
	r.json(t, &none)
	if r.status != 200 || none.DeploymentFrequency.Deploys != 0 || len(none.Deployments) != 0 || strings.Contains(string(r.body), "d2") {
		t.Errorf("bob, across deployments: %d %s", r.status, r.body)
	}

	prom := e.call(t, "GET", "/metrics", "", nil)
	body := string(prom.body)
	for _, want := range []string{"rewind_delivery_deploys 3", "rewind_delivery_change_failure_rate 0.5", `rewind_delivery_rollbacks{requester="automatic"} 1`,
		`rewind_delivery_change_lead_time_seconds{quantile="0.5"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `"d1"`) || strings.Contains(body, `"d2"`) {
		t.Error("/metrics names a deployment")
	}
}

// The Deploy History page's metrics panel in a real headless Chromium: the
// numbers and the two server-rendered SVG charts are there, with a bar per
// day; a screenshot is kept.
func TestBrowserMetricsPanel(t *testing.T) {
	browserPath := itest.Chromium(t)
	e := offlineEnv(t)
	seedDelivery(t, e)
	e.grant(t, "alice", "d1", "viewer")
	alice := e.token(t, "alice")

	ctx := chromium(t, browserPath, 2*time.Minute)
	do, text, shot := browserActions(t, ctx)
	do(chromedp.Navigate(e.http.URL+"/deployments/d1"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), alice),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("metrics")))
	shot("metrics-panel.png")
	if got := text("#metric-failure-rate"); got != "67%" {
		t.Errorf("change failure rate tile: %q, want 67%%", got)
	}
	if got := text("#metric-rework"); got != "33%" {
		t.Errorf("rework rate tile: %q", got)
	}
	var bars, bad, points int
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.querySelectorAll("#chart-deploys rect.ok").length,
		document.querySelectorAll("#chart-deploys rect.bad").length, document.querySelectorAll("#chart-failures circle.point").length]`))
	if err != nil {
		t.Fatal(err)
	}
	bars, bad, points = counts[0], counts[1], counts[2]
	if bars != 30 || bad != 30 || points != 1 {
		t.Errorf("charts: %d bars, %d failure marks, %d rate points; want 30, 30 and 1 (today)", bars, bad, points)
	}
	var visible bool
	if visible, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#chart-deploys").getBoundingClientRect().height > 0`)); err != nil || !visible {
		t.Errorf("the deploys chart is not drawn: %v", err)
	}
}
