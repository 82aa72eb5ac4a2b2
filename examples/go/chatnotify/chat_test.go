package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sampleNotice(segments int) notice {
	var n notice
	n.Job.Event, n.Job.JobID = "job.completed", "job_8f3a2c1e"
	for i := range segments {
		n.Job.Data.Segments = append(n.Job.Data.Segments, segment{
			Index: i, DownloadURL: fmt.Sprintf("https://cdn.audiospliter.example/job_8f3a2c1e/%d.mp3", i), Duration: 12.5,
		})
	}
	n.Delivery, n.Time = "dlv_0001", "2026-03-29T10:05:00Z"
	return n
}

type discordMessage struct {
	Username        string              `json:"username"`
	AllowedMentions map[string][]string `json:"allowed_mentions"`
	Embeds          []struct {
		Title, Description, Timestamp string
		Color                         int
		Fields                        []struct {
			Name, Value string
			Inline      bool
		}
		Footer struct{ Text string }
	}
}

func decodeDiscord(t *testing.T, n notice) discordMessage {
	t.Helper()
	b, err := discord(n)
	if err != nil {
		t.Fatal(err)
	}
	var m discordMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1: %s", len(m.Embeds), b)
	}
	total := len(m.Embeds[0].Title) + len(m.Embeds[0].Description) + len(m.Embeds[0].Footer.Text)
	for _, f := range m.Embeds[0].Fields {
		total += len(f.Name) + len(f.Value)
		if len(f.Value) > discordFieldValue {
			t.Errorf("a field of %d characters", len(f.Value))
		}
	}
	if len(m.Embeds[0].Fields) > discordFields || total > discordEmbedTotal {
		t.Errorf("%d fields, %d characters: beyond Discord's limits", len(m.Embeds[0].Fields), total)
	}
	return m
}

func TestDiscordEmbed(t *testing.T) {
	m := decodeDiscord(t, sampleNotice(2))
	e := m.Embeds[0]
	if m.Username != "AudioSpliter" || m.AllowedMentions["parse"] == nil || len(m.AllowedMentions["parse"]) != 0 {
		t.Errorf("username %q, allowed_mentions %v", m.Username, m.AllowedMentions)
	}
	if e.Title != "Split job completed" || e.Description != "Job `job_8f3a2c1e` finished: 2 segments, 25 s of audio." ||
		e.Color != 0x2ecc71 || e.Footer.Text != "delivery dlv_0001" || e.Timestamp != "2026-03-29T10:05:00Z" {
		t.Errorf("embed: %+v", e)
	}
	if len(e.Fields) != 2 || e.Fields[1].Name != "Segment 1" ||
		e.Fields[1].Value != "[Download](https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3) · 12.5 s" {
		t.Errorf("fields: %+v", e.Fields)
	}
}

func TestDiscordEmbedStaysWithinLimits(t *testing.T) {
	e := decodeDiscord(t, sampleNotice(40)).Embeds[0]
	if len(e.Fields) != 25 || e.Fields[24].Value != "and 16 more" {
		t.Errorf("40 segments: %d fields, last %+v", len(e.Fields), e.Fields[len(e.Fields)-1])
	}
	n := sampleNotice(20)
	for i := range n.Job.Data.Segments {
		n.Job.Data.Segments[i].DownloadURL = "https://cdn.example/" + strings.Repeat("a", 900) // long signed URLs
	}
	if e := decodeDiscord(t, n).Embeds[0]; !strings.HasPrefix(e.Fields[len(e.Fields)-1].Value, "and ") {
		t.Errorf("long URLs: no \"and N more\" field: %d fields", len(e.Fields))
	}
	n = sampleNotice(1)
	n.Job.JobID = "job`) @everyone [x](http://evil)"
	n.Job.Data.Segments[0].DownloadURL = "https://cdn.example/a(1).mp3"
	e = decodeDiscord(t, n).Embeds[0]
	if e.Description != "Job `job) @everyone [x](http://evil)` finished: 1 segment, 12.5 s of audio." {
		t.Errorf("the job id ends its code span: %q", e.Description)
	}
	if !strings.Contains(e.Fields[0].Value, "(https://cdn.example/a%281%29.mp3)") {
		t.Errorf("parentheses of a URL end the link: %q", e.Fields[0].Value)
	}
}

func TestSlackMessage(t *testing.T) {
	n := sampleNotice(2)
	n.Job.JobID = "job<&>"
	b, err := slack(n)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Text   string
		Blocks []struct {
			Type     string
			Text     struct{ Type, Text string }
			Elements []struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Text != "Split job job&lt;&amp;&gt; completed: 2 segments, 25 s of audio" {
		t.Errorf("text %q", m.Text)
	}
	if len(m.Blocks) != 4 || m.Blocks[0].Type != "header" || m.Blocks[0].Text.Text != "Split job completed" ||
		m.Blocks[2].Text.Text != "• <https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3|Segment 0> · 12.5 s\n• <https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3|Segment 1> · 12.5 s" ||
		m.Blocks[3].Type != "context" || m.Blocks[3].Elements[0].Text != "delivery dlv_0001 · 2026-03-29T10:05:00Z" {
		t.Errorf("blocks: %s", b)
	}
	b, _ = slack(sampleNotice(200))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if s := m.Blocks[2].Text.Text; len(s) > slackSection || !strings.HasSuffix(s, " more") {
		t.Errorf("200 segments: a section of %d characters ending %q", len(s), s[len(s)-20:])
	}
}

func TestFormatFromURL(t *testing.T) {
	for url, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/x":   "slack",
		"https://discord.com/api/webhooks/1/x":       "discord",
		"http://127.0.0.1:8080/anything":             "discord",
		"https://hooks.slack.com.evil.example/x/y/z": "discord",
	} {
		if got := formatFor(url); got != want {
			t.Errorf("formatFor(%s) = %s, want %s", url, got, want)
		}
	}
}

// The chat's answers: 2xx is done; 429 waits Retry-After and tries again; 5xx tries
// again; another 4xx is a refusal the notifier stops on. The URL's secret path never
// appears in an error.
func TestPostAnswers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		answers  []int
		attempts int
		refused  bool
		ok       bool
	}{
		{"accepted", []int{204}, 1, false, true},
		{"rate limited, then accepted", []int{429, 204}, 2, false, true},
		{"unavailable, then accepted", []int{503, 200}, 2, false, true},
		{"webhook deleted", []int{404}, 1, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(calls.Add(1)) - 1
				if r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
				}
				w.Header().Set("Retry-After", "0.05")
				w.WriteHeader(c.answers[min(i, len(c.answers)-1)])
				fmt.Fprint(w, `{"message": "Unknown Webhook", "code": 10015}`)
			}))
			defer srv.Close()
			ch := &chat{url: srv.URL + "/api/webhooks/1/SECRET-TOKEN", format: "discord", client: srv.Client()}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			kept := 0
			_, err := ch.post(ctx, sampleNotice(1), func() { kept++ })
			if int(calls.Load()) != c.attempts || kept != c.attempts-1 {
				t.Errorf("%d attempts, kept %d times; want %d", calls.Load(), kept, c.attempts)
			}
			var r *refused
			if (err == nil) != c.ok || errors.As(err, &r) != c.refused {
				t.Errorf("err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the webhook's secret in %q", err)
			}
		})
	}
}
