//! Guest images as the config describes them: a recipe, the cache folder its build lives in,
//! and how a VM uses one.

use std::path::PathBuf;

/// One entry of the `images` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The key in `images`; same rules as a VM name.
    pub name: String,
    pub recipe: Recipe,
    /// Hex digest of the recipe and the builder's version (`images::key`): a changed recipe is
    /// a new build.
    pub key: String,
    /// Where the build lives: `<cache>/images/<name>-<key>/` (absolute; may not exist yet).
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    Debian(DebianRecipe),
    Cloud(CloudRecipe),
}

impl Recipe {
    /// The `builder` value of the config.
    pub fn builder(&self) -> &'static str {
        match self {
            Recipe::Debian(_) => "debian",
            Recipe::Cloud(_) => "cloud",
        }
    }

    pub fn size_bytes(&self) -> u64 {
        match self {
            Recipe::Debian(r) => r.size_bytes,
            Recipe::Cloud(r) => r.size_bytes,
        }
    }
}

/// A root filesystem built from Debian packages, booted with its own kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct DebianRecipe {
    /// The guest architecture the build is for (qcmdr's name, as in a VM's `arch`): the
    /// config makes one recipe per arch of the VMs that boot the image.
    pub arch: String,
    pub suite: String,
    /// Mirror URI; `None` means the machine's own apt mirror.
    pub mirror: Option<String>,
    /// Size of the disk the guest sees.
    pub size_bytes: u64,
    /// Added to qcmdr's base packages, in the config's order.
    pub packages: Vec<String>,
    /// Absolute guest path → content, sorted by path.
    pub files: Vec<(String, String)>,
    /// Shell commands run in the image's root at build time, in order.
    pub run: Vec<String>,
}

/// A local cloud image plus a NoCloud seed that qcmdr generates.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudRecipe {
    /// Absolute path of the image file (qcow2 or raw).
    pub file: PathBuf,
    /// Expected SHA-256 of `file`, lower-case hex.
    pub sha256: String,
    pub size_bytes: u64,
    /// The user's cloud-config, merged into qcmdr's (which adds the login key).
    pub user_data: Option<String>,
}

/// The files of a built image inside [`Image::dir`] (whether it is built: `images::is_built`).
impl Image {
    /// The architecture of a `debian` build (`None` for `cloud`: its file is what it is).
    pub fn arch(&self) -> Option<&str> {
        match &self.recipe {
            Recipe::Debian(r) => Some(&r.arch),
            Recipe::Cloud(_) => None,
        }
    }
    /// How messages name this build: the image's name, with the arch when it is not x86_64
    /// (one recipe can have a build per arch).
    pub fn label(&self) -> String {
        match self.arch() {
            Some(arch) if arch != "x86_64" => format!("{} ({arch})", self.name),
            _ => self.name.clone(),
        }
    }
    /// Whether a VM of `arch` boots this build (a cloud image's file is taken on trust).
    pub fn serves(&self, arch: &str) -> bool {
        self.arch().map_or(true, |own| own == arch)
    }
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    /// The kernel of a `debian` image (`None` for `cloud`, which boots its own way).
    pub fn kernel(&self) -> Option<PathBuf> {
        matches!(self.recipe, Recipe::Debian(_)).then(|| self.dir.join("vmlinuz"))
    }
    pub fn initrd(&self) -> Option<PathBuf> {
        matches!(self.recipe, Recipe::Debian(_)).then(|| self.dir.join("initrd.img"))
    }
    /// The NoCloud seed of a `cloud` image.
    pub fn seed(&self) -> Option<PathBuf> {
        matches!(self.recipe, Recipe::Cloud(_)).then(|| self.dir.join("seed.iso"))
    }
    pub fn private_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }
}

/// How a VM uses an image: its disk, and direct kernel boot when there is a kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct VmImage {
    /// The image's name in `images`.
    pub name: String,
    /// `-kernel`: the VM's `kernel` key, else the image's own (debian), else none.
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    /// `-append`; only set together with a kernel (default: [`super::arch::default_append`]).
    pub append: Option<String>,
}
