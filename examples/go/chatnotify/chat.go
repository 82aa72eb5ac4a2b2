package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// jobCompleted is the part of a job.completed payload a notification shows
// (schemas/job.completed.schema.json).
type jobCompleted struct {
	Event string `json:"event"`
	JobID string `json:"jobId"`
	Data  struct {
		Segments []segment `json:"segments"`
	} `json:"data"`
}

type segment struct {
	Index       int     `json:"index"`
	DownloadURL string  `json:"downloadUrl"`
	Duration    float64 `json:"duration"`
}

// notice is what a notification says, whatever the chat.
type notice struct {
	Job      jobCompleted
	Delivery string // the delivery id (ce-id)
	Time     string // when the bridge received the webhook (ce-time, RFC 3339)
}

func (n notice) summary() string {
	var total float64
	for _, s := range n.Job.Data.Segments {
		total += s.Duration
	}
	plural := "s"
	if len(n.Job.Data.Segments) == 1 {
		plural = ""
	}
	return fmt.Sprintf("%d segment%s, %s of audio", len(n.Job.Data.Segments), plural, seconds(total))
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) + " s" }

// jobID is the job id as shown inside `code`: without backticks (which would end
// it) and control characters, at most 100 characters.
func (n notice) jobID() string {
	id := strings.Map(func(r rune) rune {
		if r == '`' || r < ' ' {
			return -1
		}
		return r
	}, n.Job.JobID)
	if r := []rune(id); len(r) > 100 {
		id = string(r[:100]) + "…"
	}
	return id
}

// Discord's limits on a webhook message's embed (discord.com/developers/docs/resources/message#embed-object-embed-limits).
const (
	discordFields     = 25
	discordFieldValue = 1024
	discordEmbedTotal = 6000
)

// discord is the message Discord's "Execute Webhook" takes: one embed, green, with
// the job, a field per segment (its download link and length), the delivery id in
// the footer and the time of the webhook. It mentions nobody.
func discord(n notice) ([]byte, error) {
	type field struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	}
	title := "Split job completed"
	desc := fmt.Sprintf("Job `%s` finished: %s.", n.jobID(), n.summary())
	footer := "delivery " + n.Delivery
	used := len(title) + len(desc) + len(footer)
	var fields []field
	segs := n.Job.Data.Segments
	for i, s := range segs {
		f := field{Name: fmt.Sprintf("Segment %d", s.Index), Inline: true,
			Value: fmt.Sprintf("[Download](%s) · %s", markdownURL(s.DownloadURL), seconds(s.Duration))}
		if len(f.Value) > discordFieldValue {
			f.Value = seconds(s.Duration) + " (link too long to show)"
		}
		last := len(fields) == discordFields-1 && i < len(segs)-1
		if last || used+len(f.Name)+len(f.Value) > discordEmbedTotal-100 {
			fields = append(fields, field{Name: "…", Value: fmt.Sprintf("and %d more", len(segs)-i)})
			break
		}
		used += len(f.Name) + len(f.Value)
		fields = append(fields, f)
	}
	type embed struct {
		Title       string            `json:"title"`
		Description string            `json:"description"`
		Color       int               `json:"color"`
		Fields      []field           `json:"fields,omitempty"`
		Footer      map[string]string `json:"footer"`
		Timestamp   string            `json:"timestamp,omitempty"`
	}
	return json.Marshal(struct {
		Username        string              `json:"username"`
		AllowedMentions map[string][]string `json:"allowed_mentions"`
		Embeds          []embed             `json:"embeds"`
	}{
		Username:        "AudioSpliter",
		AllowedMentions: map[string][]string{"parse": {}},
		Embeds: []embed{{Title: title, Description: desc, Color: 0x2ecc71, Fields: fields,
			Footer: map[string]string{"text": footer}, Timestamp: n.Time}},
	})
}

// markdownURL keeps a URL from ending Discord's [text](url) link early.
func markdownURL(u string) string {
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(u)
}

// Slack's limit on a section's text (api.slack.com/reference/block-kit/blocks#section).
const slackSection = 3000

// slack is the message a Slack incoming webhook takes: a text for notifications and
// Block Kit blocks with the same content as the Discord embed.
func slack(n notice) ([]byte, error) {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	var lines []string
	used := 0
	segs := n.Job.Data.Segments
	for i, s := range segs {
		l := fmt.Sprintf("• <%s|Segment %d> · %s", slackURL(s.DownloadURL), s.Index, seconds(s.Duration))
		if used+len(l)+1 > slackSection-50 {
			lines = append(lines, fmt.Sprintf("… and %d more", len(segs)-i))
			break
		}
		used += len(l) + 1
		lines = append(lines, l)
	}
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	blocks := []any{
		map[string]any{"type": "header", "text": text{"plain_text", "Split job completed"}},
		map[string]any{"type": "section", "text": text{"mrkdwn", esc(fmt.Sprintf("Job `%s` finished: %s.", n.jobID(), n.summary()))}},
	}
	if len(lines) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": text{"mrkdwn", strings.Join(lines, "\n")}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []text{{"mrkdwn", esc("delivery " + n.Delivery + " · " + n.Time)}}})
	return json.Marshal(map[string]any{
		"text":   esc(fmt.Sprintf("Split job %s completed: %s", n.jobID(), n.summary())),
		"blocks": blocks,
	})
}

// slackURL keeps a URL from ending Slack's <url|text> link early.
func slackURL(u string) string {
	return strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(u)
}

// formatFor picks the chat's format from the webhook URL when none is given:
// Slack's incoming webhooks live on hooks.slack.com, anything else gets Discord's.
func formatFor(webhook string) string {
	if u, err := url.Parse(webhook); err == nil && (u.Hostname() == "slack.com" || strings.HasSuffix(u.Hostname(), ".slack.com")) {
		return "slack"
	}
	return "discord"
}

// chat posts notifications to one webhook URL.
type chat struct {
	url    string
	format string // discord or slack
	client *http.Client
}

// refused is an answer that a retry will not change (a wrong or deleted webhook
// URL, a message the chat does not accept): the notifier stops, leaving the message
// on the broker.
type refused struct{ status, body string }

func (e *refused) Error() string {
	return fmt.Sprintf("the chat webhook refused the notification: %s %s", e.status, e.body)
}

// post sends one notification. It waits and tries again while the chat answers 429
// (as long as its Retry-After says) or 5xx, or cannot be reached, up to five
// attempts; keep is called before each wait (to keep the message from being
// redelivered meanwhile).
func (c *chat) post(ctx context.Context, n notice, keep func()) (status int, err error) {
	build := discord
	if c.format == "slack" {
		build = slack
	}
	body, err := build(n)
	if err != nil {
		return 0, err
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		wait := backoff
		status, err = c.send(ctx, body, &wait)
		if err == nil || attempt == 5 {
			return status, err
		}
		if r := (*refused)(nil); errors.As(err, &r) {
			return status, err
		}
		fmt.Printf("chat answered %v; trying again in %s\n", err, wait)
		keep()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// send makes one attempt. On 429 it sets *wait from Retry-After.
func (c *chat) send(ctx context.Context, body []byte, wait *time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, &refused{status: "(bad URL)", body: redactURL(c.url)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		// The URL carries the webhook's secret token: show its host only.
		return 0, fmt.Errorf("cannot reach %s", redactURL(c.url))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	switch {
	case resp.StatusCode/100 == 2:
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil && s >= 0 && s <= 300 {
			*wait = time.Duration(s * float64(time.Second))
		}
		return resp.StatusCode, fmt.Errorf("429 (rate limited)")
	case resp.StatusCode >= 500:
		return resp.StatusCode, fmt.Errorf("%s", resp.Status)
	default:
		return resp.StatusCode, &refused{status: resp.Status, body: strings.TrimSpace(string(msg))}
	}
}

// redactURL is the webhook URL without its path, which holds the secret.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
