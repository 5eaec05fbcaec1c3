// Package payload makes the boundary payloads the benchmarks record: JSON
// documents of a given size, either realistic text (a search tool's answer:
// ids, titles, scores, English snippets) or random bytes (incompressible).
package payload

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Doc is a search tool's answer: the query and its hits.
type Doc struct {
	Query string `json:"query"`
	Hits  []Hit  `json:"hits"`
}

// Hit is one search result.
type Hit struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Score   float64 `json:"score"`
	Snippet string  `json:"snippet"`
}

var words = strings.Fields(`the a order customer refund parcel arrived damaged warehouse shipped monday
policy support agent ticket please confirm address delivery tracking number week return label
item quantity price discount coupon invoice payment card declined retry account password reset
email phone call back manager escalate apology credit store issue resolved open closed pending
status update note internal external carrier delayed weather holiday express standard priority
within days business hours thank you for your patience we will contact soon regarding request`)

const snippetLen = 160

// Text returns a document of about size bytes of JSON text. Different
// seeds give different words.
func Text(size int, seed uint64) Doc {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	return build(size, func() string {
		var sb strings.Builder
		for sb.Len() < snippetLen {
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[r.IntN(len(words))])
		}
		return sb.String()[:snippetLen]
	}, r)
}

// Random returns a document of about size bytes whose snippets are random
// bytes (base64): what no compressor can shrink.
func Random(size int, seed uint64) Doc {
	r := rand.New(rand.NewPCG(seed, 0xbad))
	return build(size, func() string {
		b := make([]byte, snippetLen*3/4)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return base64.StdEncoding.EncodeToString(b)
	}, r)
}

func build(size int, snippet func() string, r *rand.Rand) Doc {
	d := Doc{Query: "refund policy for damaged parcels"}
	n := Size(d)
	for n < size {
		i := len(d.Hits)
		h := Hit{
			ID:      fmt.Sprintf("kb-%06d", r.IntN(1000000)),
			Title:   fmt.Sprintf("Support article %d", i),
			Score:   float64(r.IntN(1000)) / 1000,
			Snippet: snippet(),
		}
		b, err := json.Marshal(h)
		if err != nil {
			panic(err) // a Hit always encodes
		}
		if over := n + len(b) + 1 - size; over > 0 {
			// The last hit: cut its snippet (ASCII) to land on size.
			h.Snippet = h.Snippet[:max(0, len(h.Snippet)-over)]
		}
		d.Hits = append(d.Hits, h)
		n += len(b) + 1
	}
	return d
}

// Size is the length of d's JSON encoding.
func Size(d Doc) int {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // a Doc always encodes
	}
	return len(b)
}
