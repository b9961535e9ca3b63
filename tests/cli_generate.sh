#!/bin/sh
. "${srcdir:-.}/tests/lib.sh"
skip_all "not written yet"
