package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
)

// maxLogLine is the longest log line read. A longer one is skipped, and
// costs no more memory than this.
const maxLogLine = 1 << 20

// logStats counts what a read of logs found.
type logStats struct {
	logs, lines        int
	entries, summaries int
	other              int      // not idctrace entries: other messages, other text
	unreadable         int      // idctrace's messages that do not decode: cut lines, wrong types
	tooLong            int      // longer than maxLogLine
	notes              []string // logs that ended early, such as a cut .gz
}

func (s *logStats) skipped() int { return s.other + s.unreadable + s.tooLong }

// addSat returns a+b, two counts (not negative), or the largest int when
// the sum would overflow: a count from a log may be that large, and must
// not wrap to a negative.
func addSat(a, b int) int {
	if b > math.MaxInt-a {
		return math.MaxInt
	}
	return a + b
}

// readLogs calls visit with each idctrace entry of the logs at paths, in
// order: JSON lines from zap's JSON encoder or from log/slog's
// JSONHandler (through idcslog), plain or gzip-compressed (known by its
// first bytes, not its name). No path, or "-", reads stdin. Lines that are
// not idctrace entries are counted and skipped; a log that cannot be
// opened is an error, one that cannot be read to its end a note.
func readLogs(paths []string, stdin io.Reader, visit func(*logEntry)) (logStats, error) {
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	var stats logStats
	for _, path := range paths {
		r, closeLog, err := openLog(path, stdin)
		if err != nil {
			return stats, err
		}
		stats.logs++
		err = eachLine(r, func(line []byte, tooLong bool) {
			stats.lines++
			switch e, kind := parseLine(line, tooLong); kind {
			case lineEntry:
				if e.summary {
					stats.summaries++
				} else {
					stats.entries++
				}
				visit(e)
			case lineOther:
				stats.other++
			case lineUnreadable:
				stats.unreadable++
			case lineTooLong:
				stats.tooLong++
			}
		})
		closeLog()
		if err != nil {
			stats.notes = append(stats.notes, fmt.Sprintf("%s: read %d lines, then: %v", logName(path), stats.lines, err))
		}
	}
	return stats, nil
}

func logName(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}

// openLog opens the log at path, decompressing it when it starts as gzip
// data does.
func openLog(path string, stdin io.Reader) (io.Reader, func(), error) {
	var in io.Reader = stdin
	closeLog := func() {}
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		in, closeLog = f, func() { f.Close() }
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			closeLog()
			return nil, nil, fmt.Errorf("%s: %w", logName(path), err)
		}
		return bufio.NewReaderSize(zr, 64<<10), closeLog, nil
	}
	return br, closeLog, nil
}

// eachLine calls fn with each line of r, without its end, as wc -l counts
// them (and a last one without an end). A line longer than maxLogLine
// comes as tooLong, without its bytes.
func eachLine(r io.Reader, fn func(line []byte, tooLong bool)) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	var long []byte // a line longer than br's buffer, so far
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong && (err == bufio.ErrBufferFull || len(long) > 0) {
			if len(long)+len(chunk) > maxLogLine+1 {
				tooLong, long = true, long[:0]
			} else {
				long = append(long, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line := chunk
		if len(long) > 0 {
			line = long
		}
		if tooLong || len(line) > 0 {
			fn(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), tooLong)
		}
		long, tooLong = long[:0], false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
