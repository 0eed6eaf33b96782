//! File sync between host folders and a VM: Mutagen, or rsync where Mutagen is absent.
