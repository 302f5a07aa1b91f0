# ADD --checksum: the checksum is the key; a mismatch fails the build.
FROM busybox
ARG BASE
ARG SUM
ADD --checksum=${SUM} ${BASE}/files/tool.txt /checked.txt
