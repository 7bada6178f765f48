package api

import (
	"context"
	"fmt"
	"html/template"
	"strings"

	"github.com/rewindhq/rewind/internal/action"
)

// metricsPanel is the Deploy History page's delivery metrics panel: the
// five numbers of the last 30 days and two small trend charts, drawn here
// as inline SVG (no script: the page's CSP allows none inline, and a chart
// of 30 bars needs none). Its reader may already read the deployment (the
// history was read first).
type metricsPanel struct {
	Report    action.MetricsReport
	Frequency string
	LeadTime  string
	Failure   string
	Recovery  string
	Rework    string
	Deploys   template.HTML // deploys per bucket, the failed or rolled back ones marked
	Failures  template.HTML // change failure rate per bucket
	Error     string
}

func (p *page) metricsPanel(ctx context.Context, id string) *metricsPanel {
	a := action.DeliveryMetrics{Store: p.s.opts.Store, Now: p.s.opts.Now}
	rep, err := a.Run(ctx, id)
	if err != nil {
		p.s.log.Warn("metrics panel", "deployment", id, "error", err)
		return &metricsPanel{Error: "Delivery metrics are unavailable just now."}
	}
	pct := func(r *float64) string {
		if r == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f%%", *r*100)
	}
	spread := func(d action.Durations) string {
		if d.Count == 0 {
			return "—"
		}
		return humanSeconds(d.MedianSeconds) + " (p90 " + humanSeconds(d.P90Seconds) + ")"
	}
	return &metricsPanel{Report: rep,
		Frequency: fmt.Sprintf("%.1f/week", rep.DeploymentFrequency.PerWeek),
		LeadTime:  spread(rep.LeadTime), Failure: pct(rep.ChangeFailureRate.Rate),
		Recovery: spread(rep.RecoveryTime), Rework: pct(rep.ReworkRate.Rate),
		Deploys: deploysChart(rep), Failures: failureChart(rep)}
}

// humanSeconds is a duration as people read it on a dashboard.
func humanSeconds(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.0fs", s)
	case s < 3600:
		return fmt.Sprintf("%.0fm", s/60)
	case s < 48*3600:
		return fmt.Sprintf("%.1fh", s/3600)
	default:
		return fmt.Sprintf("%.1fd", s/86400)
	}
}

const chartW, chartH = 300, 60

// deploysChart is a bar per bucket: deploys that stayed, and on top those
// that failed or were rolled back. Only numbers and fixed words go into
// the markup; the title names the bucket's date.
func deploysChart(r action.MetricsReport) template.HTML {
	max := 1
	for _, t := range r.Trend {
		if n := t.Deploys + t.Failed; n > max {
			max = n
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="chart-deploys" role="img" aria-label="deploys per %s" viewBox="0 0 %d %d" width="%d" height="%d">`,
		r.Bucket, chartW, chartH, chartW, chartH)
	w := float64(chartW) / float64(max1(len(r.Trend)))
	for i, t := range r.Trend {
		bad := t.Failed + t.RolledBack
		good := t.Deploys + t.Failed - bad
		x := float64(i) * w
		hGood := float64(good) / float64(max) * (chartH - 2)
		hBad := float64(bad) / float64(max) * (chartH - 2)
		fmt.Fprintf(&b, `<g><title>%s: %d deploys, %d failed or rolled back</title>`, t.Start.Format("2006-01-02 15:04"), t.Deploys+t.Failed, bad)
		fmt.Fprintf(&b, `<rect class="ok" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x+0.5, chartH-hGood, w-1, hGood)
		fmt.Fprintf(&b, `<rect class="bad" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></g>`, x+0.5, chartH-hGood-hBad, w-1, hBad)
	}
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/></svg>`, chartH, chartW, chartH)
	return template.HTML(b.String())
}

// failureChart is the change failure rate per bucket as a line, 0 to
// 100 %, with a point on each bucket that had deploys end (others are gaps).
func failureChart(r action.MetricsReport) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="chart-failures" role="img" aria-label="change failure rate per %s" viewBox="0 0 %d %d" width="%d" height="%d">`,
		r.Bucket, chartW, chartH, chartW, chartH)
	w := float64(chartW) / float64(max1(len(r.Trend)))
	var pts []string
	for i, t := range r.Trend {
		ended := t.Deploys + t.Failed
		if ended == 0 {
			continue
		}
		rate := float64(t.Failed+t.RolledBack) / float64(ended)
		x, y := float64(i)*w+w/2, chartH-1-rate*(chartH-2)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="2"><title>%s: %.0f%%</title></circle>`, x, y, t.Start.Format("2006-01-02 15:04"), rate*100)
	}
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<polyline class="rate" points="%s"/>`, strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/></svg>`, chartH, chartW, chartH)
	return template.HTML(b.String())
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
