#!/bin/sh
# update.sh fetches swagger-ui-dist at one exact version from the npm
# registry, checks the tarball against the integrity hash the registry
# publishes, and copies the few files the handler embeds into assets/.
#
# Usage: ./update.sh 5.35.0   (or `go generate` with the version below)
#
# The version is an argument, never "latest": the embedded files must change
# only when someone decides so, and assets/VERSION records what was fetched.
set -eu

version=${1:?usage: update.sh VERSION}
case $version in
*[!0-9.]* | '') echo "update.sh: version must be X.Y.Z, got $version" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

integrity=$(npm view "swagger-ui-dist@$version" dist.integrity)
case $integrity in
sha512-*) ;;
*) echo "update.sh: registry gave no sha512 integrity for $version: $integrity" >&2; exit 1 ;;
esac

(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tarball="$work/swagger-ui-dist-$version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)"
if [ "$got" != "$integrity" ]; then
	echo "update.sh: integrity mismatch for swagger-ui-dist@$version" >&2
	echo "  registry: $integrity" >&2
	echo "  tarball:  $got" >&2
	exit 1
fi

tar -xzf "$tarball" -C "$work"
mkdir -p "$here/assets"
# The files are copied unchanged, so anyone can check them against the
# registry's tarball. swagger-ui-bundle.js.LICENSE.txt holds the licenses of
# the third-party code inside the bundle.
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt; do
	if [ -f "$work/package/$f" ]; then
		cp "$work/package/$f" "$here/assets/$f"
	elif [ "$f" != NOTICE ]; then
		echo "update.sh: $f missing from swagger-ui-dist@$version" >&2
		exit 1
	else
		rm -f "$here/assets/NOTICE"
	fi
done

printf 'swagger-ui-dist %s\n%s\n' "$version" "$integrity" >"$here/assets/VERSION"
echo "swagger-ui-dist $version copied to $here/assets"
