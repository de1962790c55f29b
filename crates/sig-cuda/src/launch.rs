//! Devices, modules and launches through the CUDA driver API.
//!
//! sigrs launches into memory and streams that PyTorch owns, so it works in
//! the device's primary context (the one the CUDA runtime, and so torch,
//! uses) and takes raw device pointers and a raw stream handle. Each bundled
//! source is compiled once per process and specialisation (PTX is
//! device-independent) and loaded once per device.
//!
//! The kernel families ([`crate::signature`], [`crate::transform`]) share
//! what a call says about its buffers and launch ([`Float`], [`Placement`])
//! and the start of every argument list: pointers, then the batch's
//! `(batch, length, dim)`.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys;
use sig_core::PathShape;

use crate::{CudaError, COMPILE_OPTIONS, KERNELS};

pub(crate) fn check(what: &str, result: sys::CUresult) -> Result<(), CudaError> {
    if result == sys::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(CudaError::Driver(format!("{what} failed: {result:?}")))
    }
}

/// One GPU, as sigrs uses it: its primary context and the limits that
/// decide launch shapes.
pub(crate) struct Device {
    ctx: sys::CUcontext,
    /// Dynamic shared memory a block may opt in to, in bytes.
    pub max_shared: usize,
    /// Streaming multiprocessors.
    pub sms: u32,
}

// SAFETY: a CUcontext handle may be used from any thread (the driver API is
// thread-safe); sigrs only makes it current and never destroys it.
unsafe impl Send for Device {}
unsafe impl Sync for Device {}

impl Device {
    /// Runs `work` with this device's primary context current, then puts
    /// back whatever was current before, so the caller's (torch's) idea of
    /// the current device is left as it was.
    pub fn scoped<R>(&self, work: impl FnOnce() -> Result<R, CudaError>) -> Result<R, CudaError> {
        // SAFETY: `ctx` is a retained primary context, valid for the process.
        check("cuCtxPushCurrent", unsafe { sys::cuCtxPushCurrent_v2(self.ctx) })?;
        let result = work();
        let mut popped: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: pops the context pushed above; `popped` is a valid out pointer.
        let pop = check("cuCtxPopCurrent", unsafe { sys::cuCtxPopCurrent_v2(&mut popped) });
        result.and_then(|r| pop.map(|()| r))
    }
}

/// The device with this ordinal, set up once per process.
pub(crate) fn device(ordinal: i32) -> Result<Arc<Device>, CudaError> {
    static DEVICES: Cache<i32, Device> = OnceLock::new();
    let info = crate::probe()?;
    if ordinal < 0 || ordinal >= info.devices {
        return Err(CudaError::Driver(format!("no CUDA device {ordinal}: the driver sees {} device(s)", info.devices)));
    }
    let mut devices = DEVICES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = devices.get(&ordinal) {
        return Ok(d.clone());
    }
    let mut dev: sys::CUdevice = 0;
    let mut ctx: sys::CUcontext = std::ptr::null_mut();
    let attribute = |attr: sys::CUdevice_attribute, dev: sys::CUdevice| -> Result<i32, CudaError> {
        let mut value = 0;
        // SAFETY: `value` is a valid out pointer and `dev` a device handle.
        check("cuDeviceGetAttribute", unsafe { sys::cuDeviceGetAttribute(&mut value, attr, dev) })?;
        Ok(value)
    };
    // SAFETY: out pointers are valid; the driver was initialised by probe().
    unsafe {
        check("cuDeviceGet", sys::cuDeviceGet(&mut dev, ordinal))?;
        check("cuDevicePrimaryCtxRetain", sys::cuDevicePrimaryCtxRetain(&mut ctx, dev))?;
    }
    let max_shared = attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev)?;
    let sms = attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev)?;
    let d = Arc::new(Device { ctx, max_shared: max_shared.max(0) as usize, sms: sms.max(1) as u32 });
    devices.insert(ordinal, d.clone());
    Ok(d)
}

/// `-D` definitions that specialise a source.
pub(crate) type Defines = Vec<(&'static str, i64)>;

/// A process-wide cache, filled on first use.
type Cache<K, V> = OnceLock<Mutex<HashMap<K, Arc<V>>>>;

/// PTX of a bundled source with these definitions, compiled once per process.
fn ptx(source: &'static str, defines: &Defines, dirs: &[PathBuf]) -> Result<Arc<CString>, CudaError> {
    static PTX: Cache<(&'static str, Defines), CString> = OnceLock::new();
    let key = (source, defines.clone());
    if let Some(p) = PTX.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let text = KERNELS
        .iter()
        .find(|(name, _)| *name == source)
        .map(|(_, text)| *text)
        .ok_or_else(|| CudaError::Driver(format!("no bundled kernel source {source}")))?;
    let mut options: Vec<String> = COMPILE_OPTIONS.iter().map(|s| s.to_string()).collect();
    options.extend(defines.iter().map(|(name, value)| format!("-D{name}={value}")));
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    // Compiling can take a second: done outside the lock, a racing thread
    // at worst compiles the same source twice.
    let compiled = crate::nvrtc::load(dirs)?.compile(source, text, &options)?;
    COMPILES.fetch_add(1, Ordering::Relaxed);
    let compiled = Arc::new(CString::new(compiled).map_err(|_| CudaError::Driver("NVRTC returned PTX with a NUL byte".into()))?);
    PTX.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).insert(key, compiled.clone());
    Ok(compiled)
}

/// A specialisation of a bundled source loaded on one device.
pub(crate) struct Module {
    module: sys::CUmodule,
    functions: Mutex<HashMap<String, usize>>,
    max_shared: usize,
}

// SAFETY: module and function handles are usable from any thread.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Module {
    /// The kernel `name`, allowed the device's whole opt-in shared memory.
    pub fn function(&self, name: &str) -> Result<sys::CUfunction, CudaError> {
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&f) = functions.get(name) {
            return Ok(f as sys::CUfunction);
        }
        let cname = CString::new(name).map_err(|_| CudaError::Driver(format!("bad kernel name {name:?}")))?;
        let mut f: sys::CUfunction = std::ptr::null_mut();
        // SAFETY: `module` is loaded; out pointer and name are valid.
        unsafe {
            check(&format!("cuModuleGetFunction({name})"), sys::cuModuleGetFunction(&mut f, self.module, cname.as_ptr()))?;
            check(
                "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)",
                sys::cuFuncSetAttribute(
                    f,
                    sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    self.max_shared.min(i32::MAX as usize) as i32,
                ),
            )?;
        }
        functions.insert(name.to_owned(), f as usize);
        Ok(f)
    }
}

/// `source` specialised by `defines`, loaded on `device` (compiled and
/// loaded at the first call, reused after).
pub(crate) fn module(ordinal: i32, dev: &Device, source: &'static str, defines: Defines, dirs: &[PathBuf]) -> Result<Arc<Module>, CudaError> {
    static MODULES: Cache<(i32, &'static str, Defines), Module> = OnceLock::new();
    let key = (ordinal, source, defines);
    if let Some(m) = MODULES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(m.clone());
    }
    let code = ptx(source, &key.2, dirs)?;
    let mut module: sys::CUmodule = std::ptr::null_mut();
    dev.scoped(|| {
        // SAFETY: `code` is NUL-terminated PTX; the device's context is current.
        check(&format!("cuModuleLoadData({source})"), unsafe { sys::cuModuleLoadData(&mut module, code.as_ptr() as *const c_void) })
    })?;
    let loaded = Arc::new(Module { module, functions: Mutex::new(HashMap::new()), max_shared: dev.max_shared });
    let mut modules = MODULES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    Ok(modules.entry(key).or_insert(loaded).clone())
}

static COMPILES: AtomicUsize = AtomicUsize::new(0);

/// How many NVRTC compilations this process has run: the first call of a
/// specialisation compiles, later calls on any device reuse its PTX.
pub fn compilations() -> usize {
    COMPILES.load(Ordering::Relaxed)
}

/// A launch shape on a caller's stream.
pub(crate) struct LaunchConfig {
    pub grid: u32,
    pub block: u32,
    pub shared_bytes: u32,
    pub stream: usize,
}

/// One kernel argument, kept alive while the launch reads it.
pub(crate) enum Arg {
    Ptr(u64),
    I64(i64),
    I32(i32),
    F64(f64),
    F32(f32),
}

impl Arg {
    fn as_param(&mut self) -> *mut c_void {
        match self {
            Arg::Ptr(v) => v as *mut u64 as *mut c_void,
            Arg::I64(v) => v as *mut i64 as *mut c_void,
            Arg::I32(v) => v as *mut i32 as *mut c_void,
            Arg::F64(v) => v as *mut f64 as *mut c_void,
            Arg::F32(v) => v as *mut f32 as *mut c_void,
        }
    }
}

/// Launches `f` with `args` (which must match its parameter list).
///
/// # Safety
/// The pointers in `args` must be device memory of the launch's context,
/// large enough for what the kernel writes and reads, and `config.stream`
/// a stream of that context (or 0, the legacy default stream).
pub(crate) unsafe fn launch(dev: &Device, f: sys::CUfunction, config: &LaunchConfig, args: &mut [Arg]) -> Result<(), CudaError> {
    let mut params: Vec<*mut c_void> = args.iter_mut().map(Arg::as_param).collect();
    dev.scoped(|| {
        check(
            "cuLaunchKernel",
            sys::cuLaunchKernel(
                f,
                config.grid,
                1,
                1,
                config.block,
                1,
                1,
                config.shared_bytes,
                config.stream as sys::CUstream,
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            ),
        )
    })
}

/// Floating-point type of a call's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Float {
    F32,
    F64,
}

impl Float {
    /// Bytes per number.
    pub(crate) fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }

    /// The suffix of the kernels instantiated for this type (`sig_forward_f32`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Float::F32 => "f32",
            Float::F64 => "f64",
        }
    }

    /// `x` as a kernel argument of type `T`.
    pub(crate) fn real(self, x: f64) -> Arg {
        match self {
            Float::F32 => Arg::F32(x as f32),
            Float::F64 => Arg::F64(x),
        }
    }
}

/// Where and how to launch.
#[derive(Debug, Clone)]
pub struct Placement {
    /// CUDA device ordinal (torch's `tensor.device.index`).
    pub device: i32,
    /// The `CUstream` handle (torch's `cuda_stream`); 0 is the legacy default stream.
    pub stream: usize,
    /// Most blocks per launch: the batch is strided over them, so any batch
    /// fits one launch.
    pub max_blocks: u32,
    /// Use the global-memory kernels even where shared memory would do (tests).
    pub force_global: bool,
    /// Threads per block before rounding to a multiple of the dimension;
    /// 0 chooses from the signature's size (for tuning on a GPU).
    pub threads: u32,
    /// Directories to look for NVRTC in before the system path.
    pub nvrtc_dirs: Vec<PathBuf>,
}

/// A grid-stride launch over `n` elements on `place`'s stream.
pub(crate) fn elementwise(n: usize, place: &Placement) -> LaunchConfig {
    let block = 256usize;
    let grid = n.div_ceil(block).clamp(1, place.max_blocks.max(1) as usize);
    LaunchConfig { grid: grid as u32, block: block as u32, shared_bytes: 0, stream: place.stream }
}

/// A kernel argument list in the order every kernel declares it: the
/// pointers, then the batch's shape (`long long batch, int length, int
/// dim`), then `options`. The caller has checked that length and dim fit
/// an `int`.
pub(crate) fn shape_args(shape: &PathShape, ptrs: &[u64], options: impl IntoIterator<Item = Arg>) -> Vec<Arg> {
    let dims = [Arg::I64(shape.batch as i64), Arg::I32(shape.length as i32), Arg::I32(shape.dim as i32)];
    ptrs.iter().map(|&ptr| Arg::Ptr(ptr)).chain(dims).chain(options).collect()
}

/// Reading kernel parameter lists out of the bundled sources, so that each
/// family's tests check its argument lists against them without a GPU (a
/// mismatch would corrupt memory on one).
#[cfg(test)]
pub(crate) mod kernel_params {
    use super::Arg;

    /// The source of the bundled file `name`.
    pub fn source(name: &str) -> &'static str {
        crate::KERNELS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no bundled source {name}")).1
    }

    /// The kinds of the parameters of kernel `stem` (declared `stem##SUFFIX(`
    /// or `stem(`) in `source`: "ptr", "i64", "i32" or "real" (the float type T).
    pub fn param_kinds(source: &str, stem: &str) -> Vec<&'static str> {
        let start = [format!("{stem}##SUFFIX("), format!("{stem}(")]
            .iter()
            .find_map(|head| source.find(head.as_str()).map(|i| i + head.len()))
            .unwrap_or_else(|| panic!("no kernel {stem}"));
        let list = &source[start..start + source[start..].find(')').unwrap()];
        list.replace('\\', " ")
            .split(',')
            .map(|param| {
                let ty = param.trim().rsplit_once(char::is_whitespace).map_or("", |(ty, _)| ty.trim());
                match ty {
                    t if t.contains('*') => "ptr",
                    "long long" => "i64",
                    "int" => "i32",
                    "T" => "real",
                    other => panic!("unknown parameter type {other:?} in {stem}"),
                }
            })
            .collect()
    }

    /// The kinds of an argument list, in the terms of [`param_kinds`].
    pub fn kinds(args: &[Arg]) -> Vec<&'static str> {
        args.iter()
            .map(|a| match a {
                Arg::Ptr(_) => "ptr",
                Arg::I64(_) => "i64",
                Arg::I32(_) => "i32",
                Arg::F64(_) | Arg::F32(_) => "real",
            })
            .collect()
    }
}
