package action

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// DeliveryMetrics is `rewind metrics [<deployment>]`, GET /api/v1/metrics
// and GET /api/v1/deployments/{id}/metrics: DORA's five from the deploy
// history, as docs/metrics.md defines them, over the window Since (30d by
// default) up to now. Who may read which deployment is decided before: the
// API passes the deployments its caller may read.
type DeliveryMetrics struct {
	Store *store.Store
	// Since is the window: N followed by h, d or w (e.g. 30d), 1h to 366d.
	Since string
	// Readable bounds the across-deployments report: nil is every
	// deployment (administration), else only these.
	Readable []string
	// Now is the window's end; nil is the clock.
	Now func() time.Time
}

// DefaultMetricsWindow is the window without --since.
const DefaultMetricsWindow = "30d"

// At most four digits: 9999 weeks still fits a time.Duration, so the
// bound below is checked on a value that did not wrap.
var windowPattern = regexp.MustCompile(`^([1-9][0-9]{0,3})([hdw])$`)

// ParseWindow reads a window such as 12h, 30d or 8w; anything else, or one
// outside 1h to 366 days, is InvalidInput.
func ParseWindow(s string) (time.Duration, error) {
	m := windowPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, domain.Errorf(domain.InvalidInput, "since %q: want a number followed by h, d or w, e.g. 30d", clip(s, 40))
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if d > 366*24*time.Hour {
		return 0, domain.Errorf(domain.InvalidInput, "since %q: at most 366 days", s)
	}
	return d, nil
}

// trendBucket cuts the window into at most 60 or so slices: hours up to two
// days, days up to 60 days, weeks beyond.
func trendBucket(window time.Duration) time.Duration {
	switch {
	case window <= 48*time.Hour:
		return time.Hour
	case window <= 60*24*time.Hour:
		return 24 * time.Hour
	default:
		return 7 * 24 * time.Hour
	}
}

// MetricsReport is one scope's five metrics, each with what it is made of.
type MetricsReport struct {
	// DeploymentID is the deployment reported on; empty across deployments.
	DeploymentID string    `json:"deploymentId,omitempty"`
	Window       string    `json:"window"`
	Since        time.Time `json:"since"`
	Until        time.Time `json:"until"`
	Bucket       string    `json:"bucket"` // the trend's slice: hour, day or week

	DeploymentFrequency Frequency         `json:"deploymentFrequency"`
	LeadTime            Durations         `json:"changeLeadTime"`
	ChangeFailureRate   FailureRate       `json:"changeFailureRate"`
	RecoveryTime        Durations         `json:"failedDeploymentRecoveryTime"`
	ReworkRate          ReworkRate        `json:"deploymentReworkRate"`
	Trend               []TrendPoint      `json:"trend"`
	Deployments         []DeploymentRates `json:"deployments,omitempty"`
}

// Frequency is DEPLOYED deploys (rollbacks excluded) per day and week.
type Frequency struct {
	Deploys int     `json:"deploys"`
	PerDay  float64 `json:"perDay"`
	PerWeek float64 `json:"perWeek"`
}

// Durations are a nearest-rank median and p90 in seconds of Count values;
// Missing, for lead time, are deploys left out (no commit time, or one
// after the deploy ended).
type Durations struct {
	Count         int     `json:"count"`
	Missing       int     `json:"missing,omitempty"`
	MedianSeconds float64 `json:"medianSeconds"`
	P90Seconds    float64 `json:"p90Seconds"`
}

// FailureRate is (Failed + RolledBack) / (Deploys + Failed); Rate is
// absent when no deploy ended in the window.
type FailureRate struct {
	Deploys    int      `json:"deploys"`
	Failed     int      `json:"failed"`
	RolledBack int      `json:"rolledBack"`
	Rate       *float64 `json:"rate,omitempty"`
}

// ReworkRate is (Rollbacks + Forced) / (Deploys + Rollbacks), over changes
// that ended DEPLOYED; Rate is absent when none did.
type ReworkRate struct {
	Deploys            int      `json:"deploys"`
	Rollbacks          int      `json:"rollbacks"`
	AutomaticRollbacks int      `json:"automaticRollbacks"`
	Forced             int      `json:"forced"`
	Rate               *float64 `json:"rate,omitempty"`
}

// TrendPoint is one slice of the window, for the page's charts.
type TrendPoint struct {
	Start      time.Time `json:"start"`
	Deploys    int       `json:"deploys"`
	Failed     int       `json:"failed"`
	RolledBack int       `json:"rolledBack"`
	Rollbacks  int       `json:"rollbacks"`
}

// DeploymentRates are one deployment's counted metrics in the
// across-deployments report (its durations: ask about it alone).
type DeploymentRates struct {
	DeploymentID        string      `json:"deploymentId"`
	DeploymentFrequency Frequency   `json:"deploymentFrequency"`
	ChangeFailureRate   FailureRate `json:"changeFailureRate"`
	ReworkRate          ReworkRate  `json:"deploymentReworkRate"`
}

// Run reports on deploymentID, or across the readable deployments when it
// is empty.
func (a *DeliveryMetrics) Run(ctx context.Context, deploymentID string) (MetricsReport, error) {
	since := a.Since
	if since == "" {
		since = DefaultMetricsWindow
	}
	window, err := ParseWindow(since)
	if err != nil {
		return MetricsReport{}, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	until := now().UTC().Truncate(time.Second).Add(time.Second) // what finished this second counts
	q := store.MetricsQuery{Since: until.Add(-window), Until: until, Bucket: trendBucket(window), Deployments: a.Readable}
	if deploymentID != "" {
		if err := domain.CheckDeploymentID(deploymentID); err != nil {
			return MetricsReport{}, err
		}
		if _, err := a.Store.GetDeployment(ctx, deploymentID); err != nil {
			return MetricsReport{}, err
		}
		q.Deployments = []string{deploymentID}
	}
	m, err := a.Store.DeliveryMetrics(ctx, q)
	if err != nil {
		return MetricsReport{}, err
	}
	r := MetricsReport{DeploymentID: deploymentID, Window: since, Since: q.Since, Until: q.Until,
		Bucket: map[time.Duration]string{time.Hour: "hour", 24 * time.Hour: "day", 7 * 24 * time.Hour: "week"}[q.Bucket]}
	days := window.Hours() / 24
	r.DeploymentFrequency, r.ChangeFailureRate, r.ReworkRate = rates(m.All.DeliveryCounts, days)
	r.LeadTime = durations(m.All.LeadTime)
	r.LeadTime.Missing = m.All.LeadTimeMissing
	r.RecoveryTime = durations(m.All.Recovery)
	r.Trend = make([]TrendPoint, len(m.All.Trend))
	for i, b := range m.All.Trend {
		r.Trend[i] = TrendPoint{Start: b.Start, Deploys: b.Deploys, Failed: b.FailedDeploys, RolledBack: b.RolledBack, Rollbacks: b.Rollbacks}
	}
	if deploymentID == "" {
		for _, id := range m.DeploymentIDs() {
			d := DeploymentRates{DeploymentID: id}
			d.DeploymentFrequency, d.ChangeFailureRate, d.ReworkRate = rates(m.PerDeployment[id].DeliveryCounts, days)
			r.Deployments = append(r.Deployments, d)
		}
	}
	return r, nil
}

func rates(c store.DeliveryCounts, days float64) (Frequency, FailureRate, ReworkRate) {
	f := Frequency{Deploys: c.Deploys, PerDay: float64(c.Deploys) / days, PerWeek: float64(c.Deploys) / days * 7}
	cfr := FailureRate{Deploys: c.Deploys + c.FailedDeploys, Failed: c.FailedDeploys, RolledBack: c.RolledBack,
		Rate: ratio(c.FailedDeploys+c.RolledBack, c.Deploys+c.FailedDeploys)}
	rw := ReworkRate{Deploys: c.Deploys, Rollbacks: c.Rollbacks, AutomaticRollbacks: c.AutomaticRollbacks, Forced: c.ForcedDeploys,
		Rate: ratio(c.Rollbacks+c.ForcedDeploys, c.Deploys+c.Rollbacks)}
	return f, cfr, rw
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

func durations(p store.Percentiles) Durations {
	return Durations{Count: p.N, MedianSeconds: p.Median.Seconds(), P90Seconds: p.P90.Seconds()}
}
