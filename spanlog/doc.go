// Package spanlog is agentrr's embedded span store: boundary spans encoded as
// OTLP protobuf (collector/pdata), committed to Pebble with synced writes and
// read back in sequence order.
//
// # Layout
//
// A store is a directory (by default .agentrr/ under the working directory):
//
//	.agentrr/
//	  FORMAT                    "agentrr-store 1": the store format version
//	  runs/<trace-id>/db/       one Pebble database per run
//	  runs/<trace-id>/writer    the pid of the process recording the run
//
// Each run gets its own Pebble database because Pebble allows one process per
// database directory, and even a read-only open fails while a writer holds
// it. With one database per run, every finished run can be listed, inspected
// and replayed while other agents are still recording, and any number of
// processes record into one store at once. A run whose database is held by a
// live writer is reported as [StatusRecording] with the writer's pid, never as
// an error and never after a hang.
//
// # Keys
//
// Inside a run's database:
//
//	"v"                                   format version of the database
//	"h" trace-id                          run header (JSON), written when the run starts
//	"e" trace-id                          run end (JSON), written when the run ends
//	"b" trace-id uvarint(len(branch)) branch seq(8 bytes, big-endian)
//	                                      one boundary span (OTLP protobuf)
//
// The branch is empty today: one global sequence per run. It is in the key so
// that parallel branches of a run (a boundary identified by its branch path
// in the span tree and its index within that branch) can be stored without a
// format change.
//
// # Durability
//
// Every boundary is written with pebble.Sync before the call that made it
// returns to the agent. Sequence numbers are assigned under a lock that is
// held only while the write enters Pebble's commit pipeline, not during the
// fsync, so concurrent boundaries share syncs (group commit) and the WAL order
// is the sequence order: a crash at any instant leaves a prefix of the run,
// never a hole.
//
// A replayed run (RunMeta.ReplayOf set) is the exception: its answers come
// from a recording that is already durable, so its boundaries are written in
// the same order without a sync each, and its synced end record makes them
// all durable at once. A crash during a replay leaves a prefix of it.
//
// Finish flushes the finished run from the write-ahead log into
// Snappy-compressed sstables, whose blocks are checksummed.
package spanlog
