// Oracle for barto's quartz dialect: Quartz's own CronExpression (Debian's libquartz2-java).
// Reads "expression<TAB>zone<TAB>base epoch seconds<TAB>count" lines; prints per line either
// "ERR <message>" or the next fire times as epoch seconds, separated by spaces.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.Date;
import java.util.TimeZone;
import org.quartz.CronExpression;

public class QuartzNext {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t");
            StringBuilder out = new StringBuilder();
            try {
                CronExpression cron = new CronExpression(f[0]);
                cron.setTimeZone(TimeZone.getTimeZone(f[1]));
                Date t = new Date(Long.parseLong(f[2]) * 1000L);
                for (int i = 0; i < Integer.parseInt(f[3]); i++) {
                    t = cron.getNextValidTimeAfter(t);
                    if (t == null) break;
                    out.append(i == 0 ? "" : " ").append(t.getTime() / 1000L);
                }
            } catch (Exception e) {
                out.setLength(0);
                out.append("ERR ").append(String.valueOf(e.getMessage()).replace('\n', ' '));
            }
            System.out.println(out);
        }
    }
}
