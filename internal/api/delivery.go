package api

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewindhq/rewind/internal/action"
)

// deliveryCollector puts the delivery metrics of the last 30 days, across
// every deployment, on serve's /metrics as gauges. They carry no
// deployment label: /metrics needs no token, and deployment ids are kept
// from readers without a grant (issue 26); the series stay a fixed dozen
// however many deployments there are. Per deployment, read the API. A
// scrape reuses what was computed in the last minute, so scrapes cost the
// database at most one computation a minute.
type deliveryCollector struct {
	s *Server

	mu   sync.Mutex
	at   time.Time
	last action.MetricsReport
	ok   bool

	deploys, perDay, cfr, rework, rollbacks, lead, recovery, missing *prometheus.Desc
}

const deliveryCacheFor = time.Minute

func newDeliveryCollector(s *Server) *deliveryCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rewind_delivery_"+name, help+" Over the last 30 days, across deployments (docs/metrics.md).", labels, nil)
	}
	return &deliveryCollector{s: s,
		deploys:   d("deploys", "Deploys (not rollbacks) that ended DEPLOYED."),
		perDay:    d("deploys_per_day", "Deployment frequency: DEPLOYED deploys per day."),
		cfr:       d("change_failure_rate", "Change failure rate: deploys that ended FAILED or were rolled back, over deploys that ended."),
		rework:    d("rework_rate", "Deployment rework rate: rollbacks and forced deploys over changes that ended DEPLOYED."),
		rollbacks: d("rollbacks", "Rollbacks that ended DEPLOYED, by who asked: a person or the bake (automatic).", "requester"),
		lead:      d("change_lead_time_seconds", "Change lead time from commit to DEPLOYED, nearest-rank quantiles.", "quantile"),
		recovery:  d("recovery_time_seconds", "Failed deployment recovery time, from a rolled-back deploy's landing to its rollback's, nearest-rank quantiles.", "quantile"),
		missing:   d("lead_time_missing", "DEPLOYED deploys left out of lead time (no commit time recorded)."),
	}
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.deploys, c.perDay, c.cfr, c.rework, c.rollbacks, c.lead, c.recovery, c.missing} {
		ch <- d
	}
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	rep, ok := c.report()
	if !ok {
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(c.deploys, float64(rep.DeploymentFrequency.Deploys))
	g(c.perDay, rep.DeploymentFrequency.PerDay)
	if r := rep.ChangeFailureRate.Rate; r != nil {
		g(c.cfr, *r)
	}
	if r := rep.ReworkRate.Rate; r != nil {
		g(c.rework, *r)
	}
	g(c.rollbacks, float64(rep.ReworkRate.Rollbacks-rep.ReworkRate.AutomaticRollbacks), "person")
	g(c.rollbacks, float64(rep.ReworkRate.AutomaticRollbacks), "automatic")
	g(c.missing, float64(rep.LeadTime.Missing))
	for _, d := range []struct {
		desc *prometheus.Desc
		v    action.Durations
	}{{c.lead, rep.LeadTime}, {c.recovery, rep.RecoveryTime}} {
		if d.v.Count > 0 {
			g(d.desc, d.v.MedianSeconds, "0.5")
			g(d.desc, d.v.P90Seconds, "0.9")
		}
	}
}

func (c *deliveryCollector) report() (action.MetricsReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && time.Since(c.at) < deliveryCacheFor {
		return c.last, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := action.DeliveryMetrics{Store: c.s.opts.Store, Since: action.DefaultMetricsWindow, Now: c.s.opts.Now}
	rep, err := a.Run(ctx, "")
	if err != nil {
		c.s.log.Warn("delivery metrics for /metrics", "error", err)
		return rep, false
	}
	c.at, c.last, c.ok = time.Now(), rep, true
	return rep, true
}
