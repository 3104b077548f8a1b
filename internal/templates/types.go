package templates

import (
	"encoding/json"
	"slices"
	"strconv"
)

// Twilio keeps a template's content as a "types" object keyed by content
// type: {"twilio/text": {"body": "..."}}. A template may carry several types
// (one per channel); Classline shows and sends the richest one it knows.

// Content is one content type of a template.
type Content struct {
	Kind     string
	Body     string
	MediaURL string
	Actions  []Action
}

type typeJSON struct {
	Body    string   `json:"body,omitempty"`
	Media   []string `json:"media,omitempty"`
	Actions []Action `json:"actions,omitempty"`
}

// ToTypes is the draft as Twilio's types object.
func ToTypes(d Draft) map[string]any {
	t := typeJSON{Body: d.Body}
	switch d.Kind {
	case KindMedia:
		t.Media = []string{d.MediaURL}
	case KindQuickReply:
		for i, a := range d.Actions {
			id := a.ID
			if id == "" {
				id = "btn_" + strconv.Itoa(i+1)
			}
			t.Actions = append(t.Actions, Action{Title: a.Title, ID: id})
		}
	case KindCallToAction:
		t.Actions = d.Actions
	}
	return map[string]any{d.Kind: t}
}

// FromTypes reads Twilio's types object: the first content type Classline
// knows, in order of richness, else the first text body of any type.
func FromTypes(raw []byte) Content {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return Content{}
	}
	order := []string{KindCallToAction, KindQuickReply, KindMedia, KindText}
	for _, k := range order {
		if v, ok := m[k]; ok {
			var t typeJSON
			if json.Unmarshal(v, &t) != nil {
				continue
			}
			c := Content{Kind: k, Body: t.Body, Actions: t.Actions}
			if len(t.Media) > 0 {
				c.MediaURL = t.Media[0]
			}
			for i := range c.Actions {
				if c.Actions[i].Type == "" && k == KindQuickReply {
					c.Actions[i].Type = ActionQuickReply
				}
			}
			return c
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var t typeJSON
		if json.Unmarshal(m[k], &t) == nil && t.Body != "" {
			return Content{Kind: k, Body: t.Body}
		}
	}
	return Content{}
}

// DraftOf is a template's content as a new draft, to copy a rejected
// template into a corrected one.
func DraftOf(c Content, name, language, category string, samples, fields map[string]string) Draft {
	return Draft{Name: name, Language: language, Category: category, Kind: c.Kind, Body: c.Body, MediaURL: c.MediaURL,
		Actions: slices.Clone(c.Actions), Samples: samples, Fields: fields}
}
