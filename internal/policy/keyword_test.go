package policy

import "testing"

func TestClassifyKeyword(t *testing.T) {
	tests := []struct {
		body string
		want Keyword
	}{
		// Every default keyword, as Twilio lists them.
		{"STOP", KeywordOptOut},
		{"STOPALL", KeywordOptOut},
		{"UNSUBSCRIBE", KeywordOptOut},
		{"CANCEL", KeywordOptOut},
		{"END", KeywordOptOut},
		{"QUIT", KeywordOptOut},
		{"REVOKE", KeywordOptOut},
		{"OPTOUT", KeywordOptOut},
		{"START", KeywordOptIn},
		{"UNSTOP", KeywordOptIn},
		{"YES", KeywordOptIn},
		{"HELP", KeywordHelp},
		{"INFO", KeywordHelp},
		// Case.
		{"stop", KeywordOptOut},
		{"Stop", KeywordOptOut},
		{"sToP", KeywordOptOut},
		{"unsubscribe", KeywordOptOut},
		{"Start", KeywordOptIn},
		{"yes", KeywordOptIn},
		{"help", KeywordHelp},
		// Whitespace.
		{"  STOP  ", KeywordOptOut},
		{"\tstop\n", KeywordOptOut},
		{"\u00a0Stop\u00a0", KeywordOptOut},
		{"\r\nHELP\r\n", KeywordHelp},
		// Punctuation and invisible characters around the word.
		{"Stop.", KeywordOptOut},
		{"STOP!!!", KeywordOptOut},
		{"stop?", KeywordOptOut},
		{"Stop. ", KeywordOptOut},
		{"\"stop\"", KeywordOptOut},
		{"Yes!", KeywordOptIn},
		{"help?", KeywordHelp},
		{"\u200bstop\u200b", KeywordOptOut},
		{"\ufeffSTOP", KeywordOptOut},
		// Sentences and near misses are ordinary messages.
		{"please stop texting me", KeywordNone},
		{"Stop please", KeywordNone},
		{"STOP STOP", KeywordNone},
		{"stop all", KeywordNone},
		{"S T O P", KeywordNone},
		{"stopp", KeywordNone},
		{"st0p", KeywordNone},
		{"stopped", KeywordNone},
		{"unstoppable", KeywordNone},
		{"yes please", KeywordNone},
		{"Yes, Amira will be at the trip", KeywordNone},
		{"I need help", KeywordNone},
		{"information", KeywordNone},
		{"the end", KeywordNone},
		{"stop-all", KeywordNone},
		{"STOP 🛑", KeywordNone},
		{"ſtop", KeywordNone}, // long s upper-cases to S: not a keyword
		{"ＳＴＯＰ", KeywordNone}, // full-width letters
		{"", KeywordNone},
		{"   ", KeywordNone},
		{"...", KeywordNone},
		{"Thanks!", KeywordNone},
	}
	for _, tt := range tests {
		if got := ClassifyKeyword(tt.body); got != tt.want {
			t.Errorf("ClassifyKeyword(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestKeywordString(t *testing.T) {
	tests := []struct {
		k    Keyword
		want string
	}{
		{KeywordNone, "none"},
		{KeywordOptOut, "opt_out"},
		{KeywordOptIn, "opt_in"},
		{KeywordHelp, "help"},
		{Keyword(42), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Keyword(%d).String() = %q, want %q", int(tt.k), got, tt.want)
		}
	}
}
