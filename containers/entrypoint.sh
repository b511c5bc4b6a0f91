#!/bin/sh
# `docker run IMAGE embed in.parquet -o out.parquet` runs llm4ms. Galaxy and Nextflow start the
# image with a command of their own (/bin/bash -c ..., /bin/bash -ue .command.sh), which must run
# unchanged, so a first argument that names a program is executed as given.
if [ "$#" -gt 0 ] && command -v "$1" > /dev/null 2>&1; then
    exec "$@"
fi
exec llm4ms "$@"
