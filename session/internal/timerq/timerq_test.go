package timerq

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestQueueModel checks the heap against a plain slice model under random
// Set, Remove and PopDue operations.
func TestQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Unix(0, 0)
		var q Queue[int]
		items := make([]*Item[int], 8)
		for i := range items {
			items[i] = &Item[int]{Value: i}
		}
		model := map[int]time.Time{}
		order := map[int]int{} // value -> last scheduling step, for tie-breaks
		for step := 0; step < 100; step++ {
			i := rapid.IntRange(0, len(items)-1).Draw(t, "item")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				at := base.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "at")) * time.Second)
				q.Set(items[i], at)
				model[i] = at
				order[i] = step
			case 1:
				q.Remove(items[i])
				delete(model, i)
			case 2:
				now := base.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "now")) * time.Second)
				want, found := -1, false
				for v, at := range model {
					if at.After(now) {
						continue
					}
					if !found || at.Before(model[want]) || (at.Equal(model[want]) && order[v] < order[want]) {
						want, found = v, true
					}
				}
				got := q.PopDue(now)
				if !found {
					if got != nil {
						t.Fatalf("PopDue(%v) = %d, want nil", now, got.Value)
					}
					continue
				}
				if got == nil || got.Value != want {
					t.Fatalf("PopDue(%v) = %v, want %d", now, got, want)
				}
				delete(model, want)
			}
			if q.Len() != len(model) {
				t.Fatalf("Len = %d, model has %d", q.Len(), len(model))
			}
			for v, it := range items {
				_, in := model[v]
				if it.Queued() != in {
					t.Fatalf("item %d Queued=%v, model %v", v, it.Queued(), in)
				}
			}
		}
	})
}
