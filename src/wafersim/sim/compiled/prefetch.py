"""`prefetch(array, indices)`: ask the CPU to start loading the cache line of array[indices] (LLVM's
`llvm.prefetch`: a hint, never a fault, whatever the address), for compiled code that knows which lines a
later step will load."""
from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, indices):
    """Start loading the line of array[indices] (a tuple of as many integers as the array has dimensions;
    any values: no bounds are checked, and a prefetch of an address outside the array does nothing)."""
    if (not isinstance(array, types.Array) or not isinstance(indices, types.BaseTuple)
            or len(indices) != array.ndim or not all(isinstance(t, types.Integer) for t in indices)):
        return None

    def codegen(context, builder, signature, args):
        array_type, indices_type = signature.args
        data = context.make_array(array_type)(context, builder, args[0])
        raw = cgutils.unpack_tuple(builder, args[1], len(indices_type))
        inds = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, indices_type)]
        pointer = cgutils.get_item_pointer2(context, builder, data=data.data,
                                            shape=cgutils.unpack_tuple(builder, data.shape),
                                            strides=cgutils.unpack_tuple(builder, data.strides),
                                            layout=array_type.layout, inds=inds)
        i32, byte_pointer = ir.IntType(32), ir.IntType(8).as_pointer()
        pointer = builder.bitcast(pointer, byte_pointer)
        fnty = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, keep in all cache levels (locality 3), a data line
        builder.call(fn, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, indices), codegen
