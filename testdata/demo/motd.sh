#!/bin/sh
cat "$GREETING_FILE"
echo "running as uid $(id -u) in $(hostname)"
