# oci-image.sh - sourced by the pull and push benches: make_oci_image OCI
# LAYERS SIZE_MIB TMP writes an OCI layout at OCI, each of its LAYERS layers
# one tar of half random, half text-like data (so gzip has something to
# do), gzip -1, SIZE_MIB of tar in all; TMP is scratch space. Sets $bytes
# to the blobs' total size.
make_oci_image() {
    local oci=$1 layers=$2 size_mib=$3 work=$4
    local per_layer i d hex size config chex manifest mhex msize
    local layer_descs=() diff_ids=()
    mkdir -p "$oci/blobs/sha256" "$work/gen"
    per_layer=$((size_mib * 1024 * 1024 / layers))
    for i in $(seq 1 $layers); do
        d=$work/gen/$i
        mkdir -p "$d/layer$i"
        head -c $((per_layer / 2)) /dev/urandom > "$d/layer$i/random"
        head -c $((per_layer / 4)) /dev/urandom | base64 | head -c $((per_layer / 2)) > "$d/layer$i/text"
        tar -C "$d" -cf "$d.tar" "layer$i"
        diff_ids+=("\"sha256:$(sha256sum "$d.tar" | cut -d' ' -f1)\"")
        gzip -1 -c "$d.tar" > "$d.tar.gz"
        hex=$(sha256sum "$d.tar.gz" | cut -d' ' -f1)
        mv "$d.tar.gz" "$oci/blobs/sha256/$hex"
        size=$(stat -c %s "$oci/blobs/sha256/$hex")
        layer_descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$hex\",\"size\":$size}")
        rm -rf "$d" "$d.tar"
    done
    config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(join "${diff_ids[@]}")]}}"
    printf '%s' "$config" > "$work/config.json"
    chex=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    mv "$work/config.json" "$oci/blobs/sha256/$chex"
    manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$chex\",\"size\":${#config}},\"layers\":[$(join "${layer_descs[@]}")]}"
    printf '%s' "$manifest" > "$work/manifest.json"
    mhex=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
    msize=$(stat -c %s "$work/manifest.json")
    mv "$work/manifest.json" "$oci/blobs/sha256/$mhex"
    echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
    echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$mhex\",\"size\":$msize,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" > "$oci/index.json"
    bytes=$(du -cb "$oci"/blobs/sha256/* | tail -1 | cut -f1)
    echo "image: $layers layers, $(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB of gzip blobs"
}

join() { local IFS=,; echo "$*"; }
