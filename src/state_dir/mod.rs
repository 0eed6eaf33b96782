//! The state dir and what qcmdr writes there: where each file lives (`paths`), the per-VM
//! lock, folders that are checked to be ours and private (`private_dir`), files written
//! without following a planted link (`private_file`), file identity by device and inode
//! (`same_file`), and whether the file system has room left (`free_space`).
pub mod free_space;
pub mod lock;
pub mod paths;
pub mod private_dir;
pub mod private_file;
pub mod same_file;
