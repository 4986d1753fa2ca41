// Package notify tells people about removal candidates
// (../shared/docs/product.md §5): e-mail over SMTP (STARTTLS, AUTH PLAIN or
// LOGIN, a text and an HTML alternative) and JSON webhooks that Microsoft
// Teams and Slack incoming webhooks accept, each carrying signed, expiring
// links to keep or release a licence (or to approve or deny a request to
// keep one). Links are HMAC tokens (see Links) keyed with a key derived from
// the installation's secret key; the server's link pages verify them.
//
// Notifier implements reclaim.Notifier over the configured channels.
package notify

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
)

// DefaultApprovalLifetime is how long approve / deny links stay valid when
// a notice has no deadline.
const DefaultApprovalLifetime = 14 * 24 * time.Hour

// Config is what a Notifier needs. At least one of SMTP and Webhook is
// required, and Links with BaseURL.
type Config struct {
	SMTP    *SMTPSender
	Webhook *WebhookSender
	Links   *Links
	// BaseURL is the server's address as people reach it, e.g.
	// https://seatwise.contoso.com; links are BaseURL + LinkPath + token.
	BaseURL string
	// ApprovalLifetime is the validity of links of notices without a
	// deadline (DefaultApprovalLifetime when 0).
	ApprovalLifetime time.Duration
	Now              func() time.Time
	Logger           *slog.Logger
}

// Notifier sends reclamation notices by e-mail and webhook. It is safe for
// concurrent use.
type Notifier struct {
	cfg  Config
	base string
}

var _ reclaim.Notifier = (*Notifier)(nil)

// New checks cfg and returns a Notifier. EINVALID when no channel is
// configured, when Links is missing, or when BaseURL is not an absolute
// http(s) URL.
func New(cfg Config) (*Notifier, error) {
	if cfg.SMTP == nil && cfg.Webhook == nil {
		return nil, sam.Errorf(sam.EINVALID, "notifications: configure an SMTP server or a webhook")
	}
	if cfg.Links == nil {
		return nil, sam.Errorf(sam.EINVALID, "notifications: signed links need the installation's secret key")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sam.Errorf(sam.EINVALID, "notifications: public_url %q must be the absolute http(s) address people reach Seatwise at (links in messages point there)", cfg.BaseURL)
	}
	if cfg.ApprovalLifetime <= 0 {
		cfg.ApprovalLifetime = DefaultApprovalLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// Channels describes the configured channels, e.g. "e-mail via
// smtp.contoso.com:587, webhook https://contoso.webhook.office.com".
func (n *Notifier) Channels() string {
	var out []string
	if n.cfg.SMTP != nil {
		out = append(out, "e-mail via "+n.cfg.SMTP.Server())
	}
	if n.cfg.Webhook != nil {
		out = append(out, "webhook "+n.cfg.Webhook.Site())
	}
	return strings.Join(out, ", ")
}

// Link is one action of a message.
type Link struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
}

var actionLabels = map[string]string{
	reclaim.ActionKeep:    "Keep my licence",
	reclaim.ActionRelease: "Release the licence",
	reclaim.ActionApprove: "Approve: let the user keep it",
	reclaim.ActionDeny:    "Deny: reclaim the licence",
}

// links returns the signed links of notice's actions for recipient.
func (n *Notifier) links(notice reclaim.Notice, recipient string, expires time.Time) ([]Link, error) {
	var out []Link
	for _, a := range notice.Actions {
		tok, err := n.cfg.Links.Sign(Claims{CandidateID: notice.CandidateID, Action: a, Recipient: recipient, Expires: expires})
		if err != nil {
			return nil, err
		}
		out = append(out, Link{Action: a, Label: actionLabels[a], URL: n.base + LinkPath + tok})
	}
	return out, nil
}

// expiry is when a notice's links expire.
func (n *Notifier) expiry(notice reclaim.Notice) time.Time {
	if !notice.Deadline.IsZero() {
		return notice.Deadline
	}
	return n.cfg.Now().Add(n.cfg.ApprovalLifetime)
}

// Notify sends notice by e-mail to each recipient (with links bound to that
// recipient) and to the webhook. It returns nil when at least one channel
// delivered (failures of the others are logged), and otherwise an error
// naming every failure: EINVALID when no channel applies (e.g. an approval
// by group only, without a webhook), EUNAVAILABLE when sending failed.
func (n *Notifier) Notify(ctx context.Context, notice reclaim.Notice) error {
	expires := n.expiry(notice)
	var errs []string
	delivered, tried := 0, 0
	if n.cfg.SMTP != nil {
		for _, rcpt := range notice.Recipients {
			tried++
			if err := n.sendMail(ctx, notice, rcpt, expires); err != nil {
				errs = append(errs, sam.ErrorMessage(err))
				n.cfg.Logger.Warn("notice e-mail not sent", "candidate", notice.CandidateID, "kind", notice.Kind, "err", sam.ErrorMessage(err))
				continue
			}
			delivered++
		}
	}
	if n.cfg.Webhook != nil {
		tried++
		if err := n.postWebhook(ctx, notice, expires); err != nil {
			errs = append(errs, sam.ErrorMessage(err))
			n.cfg.Logger.Warn("notice webhook not sent", "candidate", notice.CandidateID, "kind", notice.Kind, "err", sam.ErrorMessage(err))
		} else {
			delivered++
		}
	}
	switch {
	case delivered > 0:
		return nil
	case tried == 0:
		return sam.Errorf(sam.EINVALID, "nobody to notify about candidate %d: no recipient address and no webhook configured (%s)", notice.CandidateID, n.Channels())
	}
	return sam.Errorf(sam.EUNAVAILABLE, "%s", strings.Join(errs, "; "))
}

// content is what a message says.
type content struct {
	Subject  string
	Greeting string
	Lines    []string
	Links    []Link
	Footer   string
}

func (n *Notifier) compose(notice reclaim.Notice, links []Link, expires time.Time) content {
	c := notice.Candidate
	product := notice.Product
	if product == "" {
		product = notice.PartNumber
	}
	if product == "" {
		product = c.SKUID
	}
	who := c.DisplayName
	if who == "" {
		who = c.UPN
	}
	day := func(t time.Time) string { return t.UTC().Format("Monday 2 January 2006, 15:04 UTC") }
	var ct content
	switch notice.Kind {
	case reclaim.NoticeApproval:
		ct.Subject = fmt.Sprintf("Approval needed: %s asks to keep a %s licence", who, product)
		ct.Greeting = "Hello,"
		ct.Lines = []string{
			fmt.Sprintf("%s (%s) asked to keep their %s licence, which Seatwise proposes to reclaim because: %s.", who, c.UPN, product, notice.Reason),
			"Please decide with one of the links below.",
			fmt.Sprintf("The links work once and until %s.", day(expires)),
		}
	case reclaim.NoticeRemoved:
		ct.Subject = fmt.Sprintf("Your %s licence was removed", product)
		ct.Greeting = fmt.Sprintf("Hello %s,", who)
		ct.Lines = []string{
			fmt.Sprintf("Your %s licence was removed because: %s.", product, notice.Reason),
			"If you need it again, ask your licence administrator: the removal can be undone.",
		}
	default:
		ct.Subject = fmt.Sprintf("Your %s licence will be reclaimed on %s unless you keep it", product, expires.UTC().Format("2 January 2006"))
		ct.Greeting = fmt.Sprintf("Hello %s,", who)
		ct.Lines = []string{
			fmt.Sprintf("Seatwise found that your %s licence seems unused: %s.", product, notice.Reason),
			"If you still need it, choose \"Keep my licence\"; if not, release it so that a colleague can use it.",
			fmt.Sprintf("Without an answer by %s the licence is removed automatically. The links work once.", day(expires)),
		}
	}
	ct.Links = links
	ct.Footer = fmt.Sprintf("Seatwise licence management, profile %s, removal candidate %d.", notice.ProfileName, notice.CandidateID)
	return ct
}

func (ct content) text() string {
	var b strings.Builder
	b.WriteString(ct.Greeting + "\n\n")
	for _, l := range ct.Lines {
		b.WriteString(l + "\n\n")
	}
	for _, l := range ct.Links {
		fmt.Fprintf(&b, "%s:\n%s\n\n", l.Label, l.URL)
	}
	b.WriteString("-- \n" + ct.Footer + "\n")
	return b.String()
}

var htmlMail = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4; max-width: 40em">
<p>{{.Greeting}}</p>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{if .Links}}<p>{{range .Links}}<a href="{{.URL}}" style="display: inline-block; padding: .5em 1em; margin: 0 .5em .5em 0; border: 1px solid #0b5394; border-radius: 4px; color: #0b5394; text-decoration: none">{{.Label}}</a>
{{end}}</p>{{end}}
<p style="color: #555; font-size: small">{{.Footer}}</p>
</body></html>
`))

func (ct content) html() (string, error) {
	var b bytes.Buffer
	if err := htmlMail.Execute(&b, ct); err != nil {
		return "", sam.Wrap(sam.EINTERNAL, err, "e-mail HTML")
	}
	return b.String(), nil
}

func (n *Notifier) sendMail(ctx context.Context, notice reclaim.Notice, rcpt string, expires time.Time) error {
	links, err := n.links(notice, rcpt, expires)
	if err != nil {
		return err
	}
	ct := n.compose(notice, links, expires)
	h, err := ct.html()
	if err != nil {
		return err
	}
	return n.cfg.SMTP.Send(ctx, &Mail{To: []string{rcpt}, Subject: ct.Subject, Text: ct.text(), HTML: h, Date: n.cfg.Now()})
}

// WebhookPayload is the JSON posted to the webhook. Slack incoming
// webhooks show Text; Teams incoming webhooks read it as a MessageCard
// (Type, Context, Summary, Title, Text, PotentialAction); other receivers
// find the structured notice in Seatwise.
type WebhookPayload struct {
	Type            string        `json:"@type"`
	Context         string        `json:"@context"`
	Summary         string        `json:"summary"`
	Title           string        `json:"title"`
	ThemeColor      string        `json:"themeColor"`
	Text            string        `json:"text"`
	PotentialAction []CardAction  `json:"potentialAction,omitempty"`
	Seatwise        WebhookNotice `json:"seatwise"`
}

// CardAction is a MessageCard OpenUri action (a button in Teams).
type CardAction struct {
	Type    string       `json:"@type"`
	Name    string       `json:"name"`
	Targets []CardTarget `json:"targets"`
}

// CardTarget is the address of an OpenUri action.
type CardTarget struct {
	OS  string `json:"os"`
	URI string `json:"uri"`
}

// WebhookNotice is the notice in structured form.
type WebhookNotice struct {
	Kind          string    `json:"kind"`
	CandidateID   int64     `json:"candidate_id"`
	Profile       string    `json:"profile"`
	User          string    `json:"user"`
	DisplayName   string    `json:"display_name,omitempty"`
	SKUID         string    `json:"sku_id"`
	Product       string    `json:"product,omitempty"`
	Reason        string    `json:"reason"`
	ApprovalGroup string    `json:"approval_group,omitempty"`
	Recipients    []string  `json:"recipients,omitempty"`
	Expires       time.Time `json:"expires"`
	Links         []Link    `json:"links,omitempty"`
}

func (n *Notifier) postWebhook(ctx context.Context, notice reclaim.Notice, expires time.Time) error {
	// Links in a channel are bound to whom they act for: the user for
	// their own licence, the manager (or the approval group) for approvals.
	rcpt := notice.Candidate.UPN
	if notice.Kind == reclaim.NoticeApproval {
		switch {
		case len(notice.Recipients) > 0:
			rcpt = notice.Recipients[0]
		case notice.ApprovalGroup != "":
			rcpt = "group:" + notice.ApprovalGroup
		}
	}
	if rcpt == "" {
		return sam.Errorf(sam.EINVALID, "webhook: candidate %d has no user to bind its links to", notice.CandidateID)
	}
	links, err := n.links(notice, rcpt, expires)
	if err != nil {
		return err
	}
	ct := n.compose(notice, links, expires)
	var text strings.Builder
	for _, l := range ct.Lines {
		text.WriteString(l + "\n\n")
	}
	for _, l := range links {
		fmt.Fprintf(&text, "%s: %s\n\n", l.Label, l.URL)
	}
	p := WebhookPayload{Type: "MessageCard", Context: "https://schema.org/extensions", Summary: ct.Subject, Title: ct.Subject,
		ThemeColor: "0B5394", Text: strings.TrimSpace(text.String()),
		Seatwise: WebhookNotice{Kind: string(notice.Kind), CandidateID: notice.CandidateID, Profile: notice.ProfileName,
			User: notice.Candidate.UPN, DisplayName: notice.Candidate.DisplayName, SKUID: notice.Candidate.SKUID, Product: notice.Product,
			Reason: notice.Reason, ApprovalGroup: notice.ApprovalGroup, Recipients: notice.Recipients, Expires: expires.UTC(), Links: links}}
	for _, l := range links {
		p.PotentialAction = append(p.PotentialAction, CardAction{Type: "OpenUri", Name: l.Label, Targets: []CardTarget{{OS: "default", URI: l.URL}}})
	}
	return n.cfg.Webhook.Post(ctx, p)
}
