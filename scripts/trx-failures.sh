#!/usr/bin/env bash
# Prints each failed test of the given .trx files with its message and the top of its stack trace, so a CI log
# that keeps only the console says why a test failed, not only that it did (with the first lines the test wrote).
set -euo pipefail
for trx in "$@"; do
  [ -f "$trx" ] || continue
  awk '
    function unescape(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s); gsub(/&#xD;/, "", s); gsub(/&#xA;/, "\n", s); gsub(/&amp;/, "\\&", s); return s }
    /<UnitTestResult / && /outcome="Failed"/ {
      failed = 1; lines = 0
      name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name)
      print "--- FAILED: " unescape(name)
    }
    failed && /<StdOut>/ { inout = 1; outlines = 0 }
    failed && inout {
      line = $0; gsub(/<\/?StdOut>/, "", line); gsub(/^[ \t]+/, "", line)
      if (outlines++ < 20) print "  | " unescape(line)
    }
    /<\/StdOut>/ { inout = 0 }
    failed && /<Message>/ { inmsg = 1 }
    failed && /<StackTrace>/ { instack = 1; lines = 0 }
    failed && (inmsg || instack) {
      line = $0; gsub(/<\/?(Message|StackTrace)>/, "", line); gsub(/^[ \t]+/, "", line)
      if (inmsg || lines++ < 12) print "    " unescape(line)
    }
    /<\/Message>/ { inmsg = 0 }
    /<\/StackTrace>/ { instack = 0 }
    /<\/UnitTestResult>/ { failed = 0; inmsg = 0; instack = 0; inout = 0 }
  ' "$trx"
done
