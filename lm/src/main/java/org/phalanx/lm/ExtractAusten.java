package org.phalanx.lm;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.Inflater;

/**
 * Extracts Jane Austen's six novels from Debian's {@code r-cran-janeaustenr} package into
 * {@code data/austen/NAME.txt.gz} (one line per element of R's character vector, joined by '\n').
 * Run once, by hand; the output is committed (see data/README.md):
 *
 * <pre>
 * apt-get download r-cran-janeaustenr &amp;&amp; dpkg-deb -x r-cran-janeaustenr_*_all.deb pkg
 * mvn -q -pl lm -am -DskipTests -Dphalanx.cuda.skip=true compile exec:java \
 *     -Dexec.mainClass=org.phalanx.lm.ExtractAusten \
 *     -Dexec.args="pkg/usr/lib/R/site-library/janeaustenr/data data/austen"
 * </pre>
 *
 * {@code Rdata.rdx} (gzip) is an R serialisation of {@code list(variables = list(name = c(offset, length)), ...)};
 * {@code Rdata.rdb} holds, at each offset, a 4-byte big-endian uncompressed length and a zlib stream with
 * an R serialisation (format "X", version 3) of the object. Only the types these files use are read.
 */
public final class ExtractAusten {

    private ExtractAusten() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: ExtractAusten <janeaustenr data dir with Rdata.rdx/.rdb> <output dir>");
            System.exit(2);
        }
        Path in = Path.of(args[0]), out = Path.of(args[1]);
        Files.createDirectories(out);
        for (Map.Entry<String, String> e : extract(in).entrySet()) {
            byte[] text = e.getValue().getBytes(StandardCharsets.UTF_8);
            try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(out.resolve(e.getKey() + ".txt.gz")))) {
                o.write(text);
            }
            System.out.printf("%-18s %9d bytes%n", e.getKey(), text.length);
        }
    }

    /** Novel name -> text, in the index's order. */
    public static Map<String, String> extract(Path dataDir) throws IOException {
        Object index;
        try (InputStream s = new GZIPInputStream(Files.newInputStream(dataDir.resolve("Rdata.rdx")))) {
            index = new RReader(s.readAllBytes()).read();
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> variables = (Map<String, Object>) ((Map<String, Object>) index).get("variables");
        byte[] db = Files.readAllBytes(dataDir.resolve("Rdata.rdb"));
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> v : variables.entrySet()) {
            int[] offLen = (int[]) v.getValue();
            ByteBuffer b = ByteBuffer.wrap(db, offLen[0], offLen[1]);
            int size = b.getInt();
            Inflater inf = new Inflater();
            inf.setInput(db, offLen[0] + 4, offLen[1] - 4);
            byte[] raw = new byte[size];
            try {
                if (inf.inflate(raw) != size) {
                    throw new IOException(v.getKey() + ": zlib stream shorter than its stated " + size + " bytes");
                }
            } catch (java.util.zip.DataFormatException ex) {
                throw new IOException(v.getKey() + ": bad zlib stream", ex);
            } finally {
                inf.end();
            }
            String[] lines = (String[]) new RReader(raw).read();
            out.put(v.getKey(), String.join("\n", lines) + "\n");
        }
        return out;
    }

    /** The subset of R's XDR serialisation (version 2 or 3) these files use. */
    static final class RReader {
        private final DataInputStream in;
        private final List<Object> symbols = new ArrayList<>();

        RReader(byte[] bytes) throws IOException {
            in = new DataInputStream(new java.io.ByteArrayInputStream(bytes));
            if (in.readByte() != 'X' || in.readByte() != '\n') {
                throw new IOException("not an R XDR serialisation");
            }
            int version = in.readInt();
            in.readInt();                       // writer's R version
            in.readInt();                       // minimal reader version
            if (version == 3) {
                in.readFully(new byte[in.readInt()]);   // native encoding name
            } else if (version != 2) {
                throw new IOException("R serialisation version " + version + " not supported");
            }
        }

        Object read() throws IOException {
            int flags = in.readInt();
            int type = flags & 0xff;
            boolean hasAttr = (flags & (1 << 9)) != 0, hasTag = (flags & (1 << 10)) != 0;
            switch (type) {
                case 254: return null;                                 // NILVALUE
                case 1: {                                              // SYMSXP: its name; remembered
                    Object name = read();
                    symbols.add(name);
                    return name;
                }
                case 255: {                                            // REFSXP: an earlier symbol
                    int i = flags >>> 8;
                    return symbols.get((i == 0 ? in.readInt() : i) - 1);
                }
                case 9: return charsxp(flags);
                case 16: {                                             // STRSXP
                    String[] s = new String[in.readInt()];
                    for (int i = 0; i < s.length; i++) {
                        s[i] = (String) read();
                    }
                    return withAttributes(s, hasAttr);
                }
                case 13: {                                             // INTSXP
                    int[] v = new int[in.readInt()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = in.readInt();
                    }
                    return withAttributes(v, hasAttr);
                }
                case 10: {                                             // LGLSXP
                    int[] v = new int[in.readInt()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = in.readInt();
                    }
                    return withAttributes(v, hasAttr);
                }
                case 19: {                                             // VECSXP: named list -> Map
                    Object[] v = new Object[in.readInt()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = read();
                    }
                    Map<String, Object> attr = hasAttr ? pairlist() : Map.of();
                    String[] names = (String[]) attr.get("names");
                    if (names == null) {
                        return v;
                    }
                    Map<String, Object> m = new LinkedHashMap<>();
                    for (int i = 0; i < v.length; i++) {
                        m.put(names[i], v[i]);
                    }
                    return m;
                }
                case 2: {                                              // LISTSXP (pairlist) -> Map
                    return pairlistFrom(flags, hasAttr, hasTag);
                }
                default:
                    throw new IOException("R type " + type + " not supported by this reader");
            }
        }

        private Object withAttributes(Object v, boolean hasAttr) throws IOException {
            if (hasAttr) {
                pairlist();                                            // names etc.: not needed
            }
            return v;
        }

        private Map<String, Object> pairlist() throws IOException {
            int flags = in.readInt();
            if ((flags & 0xff) == 254) {
                return Map.of();
            }
            return pairlistFrom(flags, (flags & (1 << 9)) != 0, (flags & (1 << 10)) != 0);
        }

        private Map<String, Object> pairlistFrom(int flags, boolean hasAttr, boolean hasTag) throws IOException {
            Map<String, Object> m = new LinkedHashMap<>();
            while (true) {
                if (hasAttr) {
                    pairlist();
                }
                String tag = hasTag ? (String) read() : String.valueOf(m.size());
                m.put(tag, read());
                flags = in.readInt();
                if ((flags & 0xff) == 254) {
                    return m;
                }
                if ((flags & 0xff) != 2) {
                    throw new IOException("pairlist continues with R type " + (flags & 0xff));
                }
                hasAttr = (flags & (1 << 9)) != 0;
                hasTag = (flags & (1 << 10)) != 0;
            }
        }

        /** A CHARSXP; its levels (bits 12..27) say the encoding: UTF-8 (8), Latin-1 (4), bytes (2), ASCII (64). */
        private String charsxp(int flags) throws IOException {
            int n = in.readInt();
            if (n == -1) {
                return null;                                           // NA_character_
            }
            byte[] b = new byte[n];
            in.readFully(b);
            int levels = flags >>> 12;
            Charset cs = (levels & 4) != 0 ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8;
            return new String(b, cs);
        }
    }
}
