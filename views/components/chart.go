package components

import (
	"strconv"

	"github.com/classline/classline/internal/dashboard"
)

// hatched: bars of every second series are hatched, so two series differ
// in pattern as well as colour.
func hatched(c dashboard.Chart, barIndex int) bool {
	if len(c.Series) < 2 {
		return false
	}
	return (barIndex%len(c.Series))%2 == 1
}

func chartValue(s dashboard.Series, i int) string {
	if i < len(s.Values) {
		return strconv.Itoa(s.Values[i])
	}
	return "0"
}
