{
  "targets": [{
    "target_name": "clan_native",
    "sources": ["native/clan.cc", "native/ops.cc", "native/device.cc", "native/allocator.cc", "native/dist.cc", "native/profile.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++14"],
    "cflags_cc": ["<!@(node native/config.js cflags)", "-fexceptions", "-frtti", "-O2"],
    "libraries": ["<!@(node native/config.js libs)"]
  }]
}
