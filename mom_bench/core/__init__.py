"""The core zone (layer 0 of docs/architecture.md): what every other zone may use and which imports no other
zone - errors, split and status names, settings, files, the registry and loader of names and hand-written
files, the process's runtime (device, precision, part of a distributed job) and the one audio path."""
