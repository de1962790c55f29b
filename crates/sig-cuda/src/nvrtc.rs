//! NVRTC, the CUDA runtime compiler, loaded by sigrs itself.
//!
//! cudarc's loader looks for the library names of one CUDA major version
//! (12 here), while torch's CUDA 13 wheels ship `libnvrtc.so.13` inside the
//! Python environment (`site-packages/nvidia/cu13/lib`), off the loader's
//! path. So the few NVRTC entry points sigrs needs are resolved here, from
//! any major version, in the directories the caller names first and then
//! on the system path. Nothing here needs a GPU: compiling to PTX is pure
//! host work, which is what lets CI compile every bundled kernel.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::CudaError;

type Program = *mut c_void;
type Status = c_int;

/// The NVRTC entry points sigrs uses (C ABI, from `nvrtc.h`).
struct Api {
    version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Status,
    create: unsafe extern "C" fn(*mut Program, *const c_char, *const c_char, c_int, *const *const c_char, *const *const c_char) -> Status,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    log: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    destroy: unsafe extern "C" fn(*mut Program) -> Status,
    error_string: unsafe extern "C" fn(Status) -> *const c_char,
}

/// A loaded NVRTC library.
pub struct Nvrtc {
    api: Api,
    /// Where it was found.
    pub path: String,
    // Keeps the library mapped while `api` points into it.
    _lib: libloading::Library,
}

// SAFETY: NVRTC's API is thread-safe (each call works on its own program),
// and the function pointers are plain addresses.
unsafe impl Send for Nvrtc {}
unsafe impl Sync for Nvrtc {}

/// File names NVRTC has shipped under on Linux and Windows, newest first.
fn library_names() -> Vec<String> {
    let mut names = Vec::new();
    for major in (11..=14).rev() {
        names.push(format!("libnvrtc.so.{major}"));
        names.push(format!("nvrtc64_{major}0_0.dll"));
    }
    names.push("libnvrtc.so".into());
    names
}

impl Nvrtc {
    fn open(path: &str) -> Result<Nvrtc, String> {
        // SAFETY: loading NVRTC runs only its initialisers.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the symbol has the signature declared in `Api`
                // (nvrtc.h), and `lib` outlives every use through `_lib`.
                *unsafe { lib.get($name) }.map_err(|e| format!("{}: {e}", String::from_utf8_lossy($name)))?
            };
        }
        let api = Api {
            version: sym!(b"nvrtcVersion"),
            create: sym!(b"nvrtcCreateProgram"),
            compile: sym!(b"nvrtcCompileProgram"),
            log_size: sym!(b"nvrtcGetProgramLogSize"),
            log: sym!(b"nvrtcGetProgramLog"),
            ptx_size: sym!(b"nvrtcGetPTXSize"),
            ptx: sym!(b"nvrtcGetPTX"),
            destroy: sym!(b"nvrtcDestroyProgram"),
            error_string: sym!(b"nvrtcGetErrorString"),
        };
        Ok(Nvrtc { api, path: path.to_owned(), _lib: lib })
    }

    fn check(&self, what: &str, status: Status) -> Result<(), CudaError> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: nvrtcGetErrorString returns a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr((self.api.error_string)(status)) }.to_string_lossy().into_owned();
        Err(CudaError::Unavailable(format!("{what} failed: {text} ({status})")))
    }

    /// NVRTC's `(major, minor)` version.
    pub fn version(&self) -> Result<(i32, i32), CudaError> {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both are valid out pointers.
        self.check("nvrtcVersion", unsafe { (self.api.version)(&mut major, &mut minor) })?;
        Ok((major, minor))
    }

    /// Compiles `source` (named `name` in messages) to PTX. A compile error
    /// is [`CudaError::Compile`] carrying NVRTC's log.
    pub fn compile(&self, name: &str, source: &str, options: &[&str]) -> Result<String, CudaError> {
        let to_c = |s: &str| CString::new(s).map_err(|_| CudaError::Unavailable(format!("{name}: a NUL byte in the source or options")));
        let (src, cname) = (to_c(source)?, to_c(name)?);
        let opts: Vec<CString> = options.iter().map(|o| to_c(o)).collect::<Result<_, _>>()?;
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: Program = std::ptr::null_mut();
        // SAFETY: the strings outlive the call; no headers are passed.
        self.check("nvrtcCreateProgram", unsafe { (self.api.create)(&mut prog, src.as_ptr(), cname.as_ptr(), 0, std::ptr::null(), std::ptr::null()) })?;
        // Destroy the program on every path out.
        struct Guard<'a>(&'a Api, Program);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                // SAFETY: the program was created above and is destroyed once.
                unsafe { (self.0.destroy)(&mut self.1) };
            }
        }
        let guard = Guard(&self.api, prog);
        // SAFETY: `opt_ptrs` holds `opts.len()` valid C strings.
        let status = unsafe { (self.api.compile)(guard.1, opt_ptrs.len() as c_int, opt_ptrs.as_ptr()) };
        if status != 0 {
            let mut size = 0usize;
            // SAFETY: valid program and out pointers; the buffer has `size` bytes.
            let log = unsafe {
                (self.api.log_size)(guard.1, &mut size);
                let mut buf = vec![0u8; size.max(1)];
                (self.api.log)(guard.1, buf.as_mut_ptr().cast());
                String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())]).into_owned()
            };
            return Err(CudaError::Compile { kernel: name.to_owned(), log });
        }
        let mut size = 0usize;
        // SAFETY: as above.
        self.check("nvrtcGetPTXSize", unsafe { (self.api.ptx_size)(guard.1, &mut size) })?;
        let mut buf = vec![0u8; size.max(1)];
        // SAFETY: the buffer has the size NVRTC asked for.
        self.check("nvrtcGetPTX", unsafe { (self.api.ptx)(guard.1, buf.as_mut_ptr().cast()) })?;
        buf.truncate(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()));
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

static LOADED: Mutex<Option<Arc<Nvrtc>>> = Mutex::new(None);

/// NVRTC, loaded once per process: from `dirs` (e.g. the Python
/// environment's `nvidia/*/lib`), then by name on the system path. A
/// failure is not cached, so a later call with other `dirs` can succeed.
pub fn load(dirs: &[PathBuf]) -> Result<Arc<Nvrtc>, CudaError> {
    let mut slot = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = slot.as_ref() {
        return Ok(n.clone());
    }
    let mut tried = Vec::new();
    let mut candidates: Vec<String> = Vec::new();
    for dir in dirs {
        for name in library_names() {
            let path = dir.join(&name);
            if path.exists() {
                candidates.push(path.to_string_lossy().into_owned());
            }
        }
    }
    candidates.extend(library_names());
    for candidate in candidates {
        match Nvrtc::open(&candidate) {
            Ok(n) => {
                let n = Arc::new(n);
                *slot = Some(n.clone());
                return Ok(n);
            }
            Err(e) => tried.push(format!("{candidate}: {e}")),
        }
    }
    Err(CudaError::Unavailable(format!(
        "no NVRTC library could be loaded (install the nvidia-cuda-nvrtc wheel, or CUDA); tried {}",
        tried.len()
    )))
}
