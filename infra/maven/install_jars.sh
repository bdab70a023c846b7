#!/usr/bin/env bash
# Copies the Delta jars (pom.xml beside this file, or the pom given as $3) into $1 once, keeping only the artifacts that
# the installed pyspark does not already ship, so no jar shadows one of Spark's own versions.
set -euo pipefail
dest=${1:?usage: install_jars.sh DEST PYTHON [POM]}
python=${2:?usage: install_jars.sh DEST PYTHON [POM]}
here=$(cd "$(dirname "$0")" && pwd)
pom=${3:-$here/pom.xml}
[ -f "$dest/.complete" ] && exit 0
command -v mvn >/dev/null || { echo "Maven (mvn) is needed once to fetch the Delta jars: apt-get install maven" >&2; exit 1; }
spark_jars=$("$python" -c "import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), 'jars'))")
staging=$(mktemp -d)
mvn -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$staging" -DincludeScope=runtime
mkdir -p "$dest"
for jar in "$staging"/*.jar; do
  artifact=$(basename "$jar" | sed -E 's/-[0-9][^-]*(-[0-9]+)?\.jar$//')
  compgen -G "$spark_jars/${artifact}-[0-9]*" >/dev/null || cp "$jar" "$dest/"
done
rm -rf "$staging"
ls "$dest"/*.jar > "$dest/.complete"
echo "Delta jars in $dest:"; sed 's#.*/#  #' "$dest/.complete"
