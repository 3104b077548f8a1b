package pages

import (
	"strings"

	"github.com/classline/classline/internal/templates"
)

// kindError is the buttons error, shown under the buttons of kind only.
func kindError(f TemplateForm, kind string) string {
	if f.Draft.Kind != kind {
		return ""
	}
	return f.Errors["actions"]
}

// formContent is what the form would create, for the preview.
func formContent(f TemplateForm) templates.Content {
	return templates.Content{Kind: f.Draft.Kind, Body: f.Draft.Body, MediaURL: f.Draft.MediaURL, Actions: f.Draft.Actions}
}

// FormActions reads the buttons of the form into the draft.
func (f *TemplateForm) FormActions() {
	f.Draft.Actions = nil
	switch f.Draft.Kind {
	case templates.KindQuickReply:
		for _, line := range strings.Split(f.QuickReplies, "\n") {
			if t := strings.TrimSpace(line); t != "" {
				f.Draft.Actions = append(f.Draft.Actions, templates.Action{Type: templates.ActionQuickReply, Title: t})
			}
		}
	case templates.KindCallToAction:
		for _, l := range f.Links {
			if strings.TrimSpace(l.Title) != "" || strings.TrimSpace(l.URL) != "" {
				f.Draft.Actions = append(f.Draft.Actions, templates.Action{Type: templates.ActionURL, Title: strings.TrimSpace(l.Title), URL: strings.TrimSpace(l.URL)})
			}
		}
		if strings.TrimSpace(f.Phone.Title) != "" || strings.TrimSpace(f.Phone.Phone) != "" {
			f.Draft.Actions = append(f.Draft.Actions, templates.Action{Type: templates.ActionPhone, Title: strings.TrimSpace(f.Phone.Title), Phone: strings.TrimSpace(f.Phone.Phone)})
		}
	}
}
