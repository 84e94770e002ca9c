package tsflink.testjob;

import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.DataInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The test oracle for tsflink's reader of Flink's `_metadata`: loads a `_metadata` file with
 * Flink's own deserializer (Checkpoints.loadCheckpointMetadata) and prints, as JSON, the checkpoint
 * id, the operator states and every file its state handles reference. The handles are walked
 * generically (every field of every state object), so this tool knows no handle layout: leaves are
 * recognized by class (file, relative file, file-merging segment, inline bytes, directory).
 *
 * <p>Usage: java -cp job.jar:$FLINK_HOME/lib/* tsflink.testjob.MetadataDump <dir-with-_metadata>
 */
public class MetadataDump {

    private final Map<String, Map<String, Object>> files = new TreeMap<>();
    private final IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
    private int inline = 0;
    private long inlineBytes = 0;
    private final List<String> directories = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        File dir = new File(args[0]);
        CheckpointMetadata metadata;
        try (DataInputStream in = new DataInputStream(new FileInputStream(new File(dir, "_metadata")))) {
            metadata = Checkpoints.loadCheckpointMetadata(in, MetadataDump.class.getClassLoader(), dir.getAbsolutePath());
        }
        MetadataDump dump = new MetadataDump();
        StringBuilder ops = new StringBuilder();
        for (OperatorState op : metadata.getOperatorStates()) {
            if (ops.length() > 0) ops.append(",");
            ops.append("{\"id\":\"").append(op.getOperatorID().toHexString()).append("\",\"parallelism\":")
                    .append(op.getParallelism()).append(",\"maxParallelism\":").append(op.getMaxParallelism())
                    .append(",\"subtasks\":[");
            boolean first = true;
            for (Map.Entry<Integer, OperatorSubtaskState> e : new TreeMap<>(op.getSubtaskStates()).entrySet()) {
                if (!first) ops.append(",");
                first = false;
                ops.append(e.getKey());
                dump.walk(e.getValue(), false);
            }
            ops.append("]}");
            if (op.getCoordinatorState() != null) dump.walk(op.getCoordinatorState(), false);
        }
        StringBuilder out = new StringBuilder();
        out.append("{\"checkpointId\":").append(metadata.getCheckpointId())
                .append(",\"masterStates\":").append(metadata.getMasterStates().size())
                .append(",\"operators\":[").append(ops).append("]")
                .append(",\"inlineHandles\":").append(dump.inline)
                .append(",\"inlineBytes\":").append(dump.inlineBytes)
                .append(",\"files\":[");
        boolean first = true;
        for (Map<String, Object> f : dump.files.values()) {
            if (!first) out.append(",");
            first = false;
            out.append("{");
            boolean firstField = true;
            for (Map.Entry<String, Object> e : f.entrySet()) {
                if (!firstField) out.append(",");
                firstField = false;
                out.append("\"").append(e.getKey()).append("\":");
                Object v = e.getValue();
                out.append(v instanceof String ? "\"" + v + "\"" : String.valueOf(v));
            }
            out.append("}");
        }
        out.append("]}");
        System.out.println(out);
    }

    private static Object call(Object o, String method) throws Exception {
        Method m = o.getClass().getMethod(method);
        m.setAccessible(true);
        return m.invoke(o);
    }

    private static boolean isA(Object o, String simpleName) {
        for (Class<?> c = o.getClass(); c != null; c = c.getSuperclass()) {
            if (c.getSimpleName().equals(simpleName)) return true;
        }
        return false;
    }

    private void addFile(String path, boolean relative, long size, String kind, boolean shared, Long end) {
        Map<String, Object> f = files.computeIfAbsent(path, p -> new TreeMap<>());
        f.put("path", path);
        f.put("relative", relative);
        f.put("kind", kind);
        if (shared || Boolean.TRUE.equals(f.get("shared"))) f.put("shared", true);
        else f.put("shared", false);
        if (end == null) {
            f.put("size", size);
        } else {
            Object previous = f.get("minSize");
            f.put("minSize", previous == null ? end : Math.max((Long) previous, end));
        }
    }

    private void walk(Object o, boolean shared) throws Exception {
        if (o == null || seen.containsKey(o)) return;
        if (o instanceof Collection) {
            for (Object x : (Collection<?>) o) walk(x, shared);
            return;
        }
        if (o instanceof Map) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                walk(e.getKey(), shared);
                walk(e.getValue(), shared);
            }
            return;
        }
        if (o.getClass().isArray() || o.getClass().getName().startsWith("java.") || o.getClass().isEnum()) return;
        seen.put(o, true);
        if (isA(o, "RelativeFileStateHandle")) {
            addFile((String) call(o, "getRelativePath"), true, (Long) call(o, "getStateSize"), "file", shared, null);
            return;
        }
        if (isA(o, "EmptySegmentFileStateHandle")) return;
        if (isA(o, "SegmentFileStateHandle")) {
            long start = (Long) call(o, "getStartPos");
            long size = (Long) call(o, "getStateSize");
            boolean sharedScope = String.valueOf(call(o, "getScope")).equals("SHARED");
            addFile(call(o, "getFilePath").toString(), false, 0, "segment", shared || sharedScope, start + size);
            return;
        }
        if (isA(o, "FileStateHandle")) {
            addFile(call(o, "getFilePath").toString(), false, (Long) call(o, "getStateSize"), "file", shared, null);
            return;
        }
        if (isA(o, "ByteStreamStateHandle")) {
            inline++;
            inlineBytes += ((byte[]) call(o, "getData")).length;
            return;
        }
        if (isA(o, "DirectoryStreamStateHandle")) {
            directories.add(String.valueOf(call(o, "getDirectory")));
            return;
        }
        if (!o.getClass().getName().startsWith("org.apache.flink.")) return;
        for (Class<?> c = o.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field field : c.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers()) || field.getType().isPrimitive()) continue;
                field.setAccessible(true);
                walk(field.get(o), shared || field.getName().equals("sharedState"));
            }
        }
    }
}
